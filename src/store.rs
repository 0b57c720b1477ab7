//! What the pluggable stores ([`KeyStore`](crate::KeyStore),
//! [`NonceStore`](crate::NonceStore)) have in common.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

/// The future a store returns: either a value at hand (no allocation) or a
/// boxed future for a store that has to wait on I/O.
///
/// ```
/// use tower_hmac::StoreFuture;
///
/// # async fn demo() {
/// assert_eq!(StoreFuture::ready(7).await, 7);
/// assert_eq!(StoreFuture::new(async { 7 }).await, 7);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct StoreFuture<T>(Inner<T>);

enum Inner<T> {
    Ready(Option<T>),
    Pending(Pin<Box<dyn Future<Output = T> + Send>>),
}

impl<T> StoreFuture<T> {
    /// A future that is already complete.
    pub fn ready(value: T) -> Self {
        Self(Inner::Ready(Some(value)))
    }

    /// Wraps a future that does real work.
    pub fn new(future: impl Future<Output = T> + Send + 'static) -> Self {
        Self(Inner::Pending(Box::pin(future)))
    }

    /// The value, if it was at hand from the start; else the future back.
    pub(crate) fn into_ready(self) -> Result<T, Self> {
        match self.0 {
            Inner::Ready(Some(value)) => Ok(value),
            inner => Err(Self(inner)),
        }
    }
}

// `T` is only ever moved out, never pinned.
impl<T> Unpin for StoreFuture<T> {}

impl<T> Future for StoreFuture<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match &mut self.get_mut().0 {
            Inner::Ready(value) => {
                Poll::Ready(value.take().expect("StoreFuture polled after completion"))
            }
            Inner::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

impl<T> fmt::Debug for StoreFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreFuture")
    }
}

/// A store could not answer: a database or cache is down, say.
///
/// The layer never takes this as "no such key" or "nonce not seen": it
/// answers 503 (`key_store_unavailable` or `replay_store_unavailable`).
pub struct StoreError(Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// Wraps the underlying error.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreError").field(&self.0).finish()
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}
