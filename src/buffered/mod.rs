//! A buffering adapter for handlers that expect the whole body: it reads the
//! body up to a limit, verifies it, and only then calls the inner service.

mod body;
mod future;
mod layer;
mod service;

pub use body::BufferedBody;
pub use future::ResponseFuture;
pub use layer::BufferedVerifyLayer;
pub use service::BufferedVerify;
