//! Buckets, objects and multipart uploads on disk.
//!
//! ```text
//! DATA/buckets/<bucket>/<hex sha256(key)>        an object's bytes
//! DATA/buckets/<bucket>/<hex sha256(key)>.json   its metadata (key, size, ETag, ...)
//! DATA/uploads/<upload id>/<part number>         the parts of an unfinished upload
//! DATA/tmp/<random>                              bodies being received
//! ```
//! A client's string never becomes a path: bucket names are checked against
//! S3's rules (lowercase letters, digits, `.` and `-`, no `..`), object files
//! are named by the SHA-256 of their key, and upload ids and part numbers
//! are the server's own.
//!
//! A body is written to `tmp/` as it streams in ([`Spool`]), and moved into
//! place only by [`Store::put_object`] / [`Store::put_part`], which the
//! handler calls after `verify()`; a [`Spooled`] body that is dropped
//! instead (refused, or the request went away) is deleted.
//!
//! The index of objects lives in memory, loaded from the `.json` files at
//! start; unfinished multipart uploads live only in memory, and `tmp/` and
//! `uploads/` are emptied at start. An example, not a database: a crash
//! mid-write can leave an object's bytes and metadata out of step.

use std::{
    collections::{BTreeMap, HashMap},
    io::{self, Read as _, Write as _},
    ops::Bound,
    path::{Path, PathBuf},
    pin::Pin,
    task::{ready, Context, Poll},
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::{
    sync::{mpsc, Mutex},
    task::JoinHandle,
};

use crate::xml::S3Error;

/// S3's smallest part, but for the last one.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
const MAX_PART_NUMBER: u32 = 10_000;
/// The most keys one listing returns.
pub const MAX_KEYS: usize = 1000;
const IO_CHUNK: usize = 256 * 1024;

/// What is known of a stored object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub key: String,
    pub size: u64,
    /// Quoted, as in the `ETag` header.
    pub etag: String,
    pub modified_ms: u64,
    pub content_type: Option<String>,
    /// `x-amz-meta-*` headers, names lowercased.
    pub user_metadata: Vec<(String, String)>,
    /// Whether the signature covered the bytes (false for an unsigned
    /// payload: only the checksum, if any, vouched for them).
    pub body_authenticated: bool,
}

/// What a `PutObject` or `CreateMultipartUpload` says of the object besides its bytes.
#[derive(Debug, Clone, Default)]
pub struct Attributes {
    pub content_type: Option<String>,
    pub user_metadata: Vec<(String, String)>,
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct Listing {
    pub objects: Vec<Meta>,
    pub common_prefixes: Vec<String>,
    /// The last key or common prefix returned, when more follow.
    pub next: Option<String>,
}

struct Bucket {
    created_ms: u64,
    objects: BTreeMap<String, Meta>,
}

struct Upload {
    bucket: String,
    key: String,
    attributes: Attributes,
    parts: BTreeMap<u32, Part>,
}

struct Part {
    size: u64,
    sha256: [u8; 32],
    etag: String,
    authenticated: bool,
}

#[derive(Default)]
struct Index {
    buckets: BTreeMap<String, Bucket>,
    uploads: HashMap<String, Upload>,
}

/// The data directory and its index.
pub struct Store {
    root: PathBuf,
    // Held only for metadata and renames, never while a body streams.
    index: Mutex<Index>,
}

impl Store {
    /// Opens (or creates) the data directory `root` and loads its index.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        for scratch in ["tmp", "uploads"] {
            match std::fs::remove_dir_all(root.join(scratch)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => std::fs::create_dir_all(root.join(scratch))?,
            }
        }
        std::fs::create_dir_all(root.join("buckets"))?;
        let mut index = Index::default();
        for entry in std::fs::read_dir(root.join("buckets"))? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !valid_bucket_name(&name) {
                continue;
            }
            let metadata = entry.metadata()?;
            let created_ms = metadata
                .created()
                .or_else(|_| metadata.modified())
                .map_or(0, unix_ms);
            let mut objects = BTreeMap::new();
            for file in std::fs::read_dir(entry.path())? {
                let path = file?.path();
                if path.extension().is_some_and(|e| e == "json") {
                    let meta: Meta = serde_json::from_slice(&std::fs::read(&path)?)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    objects.insert(meta.key.clone(), meta);
                }
            }
            index.buckets.insert(
                name,
                Bucket {
                    created_ms,
                    objects,
                },
            );
        }
        Ok(Self {
            root,
            index: Mutex::new(index),
        })
    }

    /// The buckets, with their creation times.
    pub async fn buckets(&self) -> Vec<(String, u64)> {
        let index = self.index.lock().await;
        index
            .buckets
            .iter()
            .map(|(name, bucket)| (name.clone(), bucket.created_ms))
            .collect()
    }

    pub async fn has_bucket(&self, bucket: &str) -> bool {
        self.index.lock().await.buckets.contains_key(bucket)
    }

    pub async fn create_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        if !valid_bucket_name(bucket) {
            return Err(S3Error::invalid_bucket_name());
        }
        let mut index = self.index.lock().await;
        if index.buckets.contains_key(bucket) {
            return Err(S3Error::bucket_already_owned_by_you());
        }
        let dir = self.bucket_dir(bucket);
        blocking(move || std::fs::create_dir(dir)).await?;
        index.buckets.insert(
            bucket.to_owned(),
            Bucket {
                created_ms: unix_ms(SystemTime::now()),
                objects: BTreeMap::new(),
            },
        );
        Ok(())
    }

    pub async fn delete_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        let mut index = self.index.lock().await;
        let found = index
            .buckets
            .get(bucket)
            .ok_or_else(S3Error::no_such_bucket)?;
        if !found.objects.is_empty() || index.uploads.values().any(|u| u.bucket == bucket) {
            return Err(S3Error::bucket_not_empty());
        }
        let dir = self.bucket_dir(bucket);
        blocking(move || std::fs::remove_dir_all(dir)).await?;
        index.buckets.remove(bucket);
        Ok(())
    }

    /// Up to `max` keys under `prefix` after `after`, with the keys that
    /// contain `delimiter` past the prefix rolled up into common prefixes.
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        after: Option<&str>,
        max: usize,
    ) -> Result<Listing, S3Error> {
        let index = self.index.lock().await;
        let objects = &index
            .buckets
            .get(bucket)
            .ok_or_else(S3Error::no_such_bucket)?
            .objects;
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let mut listing = Listing::default();
        // After a common prefix, the keys under it are skipped, on this
        // page and (the token being that prefix) on the next.
        let mut rolled_up = after.filter(|a| !delimiter.is_empty() && a.ends_with(delimiter));
        let mut last = None;
        for (key, meta) in objects.range::<str, _>((start, Bound::Unbounded)) {
            if !key.starts_with(prefix) {
                break;
            }
            if rolled_up.is_some_and(|p| key.starts_with(p)) {
                continue;
            }
            if listing.objects.len() + listing.common_prefixes.len() == max {
                listing.next = last.map(str::to_owned);
                break;
            }
            let at = (!delimiter.is_empty())
                .then(|| key[prefix.len()..].find(delimiter))
                .flatten();
            if let Some(at) = at {
                let common = &key[..prefix.len() + at + delimiter.len()];
                listing.common_prefixes.push(common.to_owned());
                (rolled_up, last) = (Some(common), Some(common));
            } else {
                listing.objects.push(meta.clone());
                last = Some(key.as_str());
            }
        }
        Ok(listing)
    }

    /// An object's metadata and an open handle on its bytes, taken together
    /// so that a concurrent overwrite cannot pair one version's metadata
    /// with another's bytes.
    pub async fn open_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(Meta, std::fs::File), S3Error> {
        let index = self.index.lock().await;
        let meta = index
            .buckets
            .get(bucket)
            .ok_or_else(S3Error::no_such_bucket)?
            .objects
            .get(key)
            .ok_or_else(S3Error::no_such_key)?
            .clone();
        let path = self.object_path(bucket, key);
        let file = blocking(move || std::fs::File::open(path)).await?;
        Ok((meta, file))
    }

    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<Meta, S3Error> {
        let index = self.index.lock().await;
        let bucket = index
            .buckets
            .get(bucket)
            .ok_or_else(S3Error::no_such_bucket)?;
        bucket
            .objects
            .get(key)
            .cloned()
            .ok_or_else(S3Error::no_such_key)
    }

    /// Deletes an object; deleting one that does not exist succeeds, as in S3.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        let mut index = self.index.lock().await;
        let objects = &mut index
            .buckets
            .get_mut(bucket)
            .ok_or_else(S3Error::no_such_bucket)?
            .objects;
        if objects.remove(key).is_some() {
            let path = self.object_path(bucket, key);
            blocking(move || {
                std::fs::remove_file(path.with_extension("json"))?;
                std::fs::remove_file(path)
            })
            .await?;
        }
        Ok(())
    }

    /// Starts receiving a body into `tmp/`.
    pub async fn spool(&self) -> io::Result<Spool> {
        let path = self.root.join("tmp").join(random_hex());
        let temp = TempFile(Some(path.clone()));
        let file = blocking(move || std::fs::File::create_new(path)).await?;
        // One blocking thread per body writes and hashes it, off the async workers.
        let (sender, mut receiver) = mpsc::channel::<Bytes>(16);
        let writer = tokio::task::spawn_blocking(move || {
            let mut file = io::BufWriter::with_capacity(1024 * 1024, file);
            let (mut size, mut sha256) = (0, Sha256::new());
            while let Some(data) = receiver.blocking_recv() {
                file.write_all(&data)?;
                sha256.update(&data);
                size += data.len() as u64;
            }
            file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            Ok((size, sha256.finalize().into()))
        });
        Ok(Spool {
            sender: Some(sender),
            writer,
            temp,
        })
    }

    /// Moves a received body into place as `key` (replacing any object of
    /// that key). Call it only after `verify()` succeeded.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Spooled,
        attributes: Attributes,
        body_authenticated: bool,
    ) -> Result<Meta, S3Error> {
        let etag = format!("\"{}\"", hex(&body.sha256[..16]));
        self.commit(bucket, key, body, etag, attributes, body_authenticated)
            .await
    }

    async fn commit(
        &self,
        bucket: &str,
        key: &str,
        mut body: Spooled,
        etag: String,
        attributes: Attributes,
        body_authenticated: bool,
    ) -> Result<Meta, S3Error> {
        let meta = Meta {
            key: key.to_owned(),
            size: body.size,
            etag,
            modified_ms: unix_ms(SystemTime::now()),
            content_type: attributes.content_type,
            user_metadata: attributes.user_metadata,
            body_authenticated,
        };
        let json = serde_json::to_vec(&meta).map_err(S3Error::internal)?;
        let mut index = self.index.lock().await;
        let objects = &mut index
            .buckets
            .get_mut(bucket)
            .ok_or_else(S3Error::no_such_bucket)?
            .objects;
        let path = self.object_path(bucket, key);
        let temp = std::mem::take(&mut body.temp);
        let meta_temp = TempFile(Some(self.root.join("tmp").join(random_hex())));
        let result = blocking(move || {
            std::fs::write(meta_temp.path(), json)?;
            temp.rename(&path)?;
            meta_temp.rename(&path.with_extension("json"))
        })
        .await;
        if let Err(error) = result {
            // The object is now whatever survived on disk: drop it from the index.
            objects.remove(key);
            return Err(error.into());
        }
        objects.insert(key.to_owned(), meta.clone());
        Ok(meta)
    }

    pub async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        attributes: Attributes,
    ) -> Result<String, S3Error> {
        let mut index = self.index.lock().await;
        if !index.buckets.contains_key(bucket) {
            return Err(S3Error::no_such_bucket());
        }
        let id = random_hex();
        let dir = self.root.join("uploads").join(&id);
        blocking(move || std::fs::create_dir(dir)).await?;
        index.uploads.insert(
            id.clone(),
            Upload {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                attributes,
                parts: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    /// Whether `upload_id` is an unfinished upload of `key` in `bucket`.
    pub async fn has_upload(&self, bucket: &str, key: &str, upload_id: &str) -> bool {
        let index = self.index.lock().await;
        index
            .uploads
            .get(upload_id)
            .is_some_and(|u| u.bucket == bucket && u.key == key)
    }

    /// Moves a received part into its upload (replacing a part of the same
    /// number). Call it only after `verify()` succeeded. Returns its ETag.
    pub async fn put_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        mut body: Spooled,
        body_authenticated: bool,
    ) -> Result<String, S3Error> {
        if !(1..=MAX_PART_NUMBER).contains(&number) {
            return Err(S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive.",
            ));
        }
        let mut index = self.index.lock().await;
        let upload = index
            .uploads
            .get_mut(upload_id)
            .filter(|u| u.bucket == bucket && u.key == key)
            .ok_or_else(S3Error::no_such_upload)?;
        let path = self.part_path(upload_id, number);
        let temp = std::mem::take(&mut body.temp);
        blocking(move || temp.rename(&path)).await?;
        let etag = format!("\"{}\"", hex(&body.sha256[..16]));
        upload.parts.insert(
            number,
            Part {
                size: body.size,
                sha256: body.sha256,
                etag: etag.clone(),
                authenticated: body_authenticated,
            },
        );
        Ok(etag)
    }

    /// Joins the listed parts into the object, as S3 does: the parts must be
    /// in ascending order, each with the ETag it was given, and all but the
    /// last at least [`MIN_PART_SIZE`]. Parts not listed are discarded. The
    /// ETag is the digest of the parts' digests, with `-<number of parts>`.
    pub async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        listed: &[(u32, String)],
    ) -> Result<Meta, S3Error> {
        let (upload, files) = {
            let mut index = self.index.lock().await;
            let upload = index
                .uploads
                .get(upload_id)
                .filter(|u| u.bucket == bucket && u.key == key)
                .ok_or_else(S3Error::no_such_upload)?;
            if listed.is_empty() {
                return Err(S3Error::malformed_xml());
            }
            if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
                return Err(S3Error::invalid_part_order());
            }
            let mut files = Vec::with_capacity(listed.len());
            for (i, (number, etag)) in listed.iter().enumerate() {
                let part = upload.parts.get(number).ok_or_else(S3Error::invalid_part)?;
                if part.etag.trim_matches('"') != etag.trim_matches('"') {
                    return Err(S3Error::invalid_part());
                }
                if part.size < MIN_PART_SIZE && i + 1 < listed.len() {
                    return Err(S3Error::entity_too_small());
                }
                files.push(self.part_path(upload_id, *number));
            }
            // Taken out now: a part uploaded while the parts are being joined is refused.
            let upload = index.uploads.remove(upload_id).expect("looked up above");
            (upload, files)
        };
        let (mut digests, mut size, mut authenticated) = (Sha256::new(), 0, true);
        for (number, _) in listed {
            let part = &upload.parts[number];
            digests.update(part.sha256);
            size += part.size;
            authenticated &= part.authenticated;
        }
        let sha256: [u8; 32] = digests.finalize().into();
        let etag = format!("\"{}-{}\"", hex(&sha256[..16]), listed.len());

        let path = self.root.join("tmp").join(random_hex());
        let temp = TempFile(Some(path.clone()));
        let dir = self.root.join("uploads").join(upload_id);
        blocking(move || {
            let mut out = std::fs::File::create_new(&path)?;
            for file in files {
                // File to file: the kernel copies (copy_file_range on Linux).
                io::copy(&mut std::fs::File::open(file)?, &mut out)?;
            }
            out.sync_all()?;
            std::fs::remove_dir_all(dir)
        })
        .await?;
        let body = Spooled { temp, size, sha256 };
        self.commit(bucket, key, body, etag, upload.attributes, authenticated)
            .await
    }

    pub async fn abort_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), S3Error> {
        let mut index = self.index.lock().await;
        if !index
            .uploads
            .get(upload_id)
            .is_some_and(|u| u.bucket == bucket && u.key == key)
        {
            return Err(S3Error::no_such_upload());
        }
        index.uploads.remove(upload_id);
        let dir = self.root.join("uploads").join(upload_id);
        blocking(move || std::fs::remove_dir_all(dir)).await?;
        Ok(())
    }

    fn bucket_dir(&self, bucket: &str) -> PathBuf {
        debug_assert!(valid_bucket_name(bucket));
        self.root.join("buckets").join(bucket)
    }

    fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.bucket_dir(bucket)
            .join(hex(&Sha256::digest(key.as_bytes())))
    }

    /// `upload_id` has been found in the index: it is one of ours.
    fn part_path(&self, upload_id: &str, number: u32) -> PathBuf {
        self.root
            .join("uploads")
            .join(upload_id)
            .join(number.to_string())
    }
}

/// S3's rules for bucket names: 3 to 63 lowercase letters, digits, `.`
/// and `-`, starting and ending with a letter or digit, no `..`. Such a
/// name is safe as a directory name.
pub fn valid_bucket_name(name: &str) -> bool {
    let edge = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && edge(name.bytes().next())
        && edge(name.bytes().last())
        && !name.contains("..")
}

/// A body being received into `tmp/`.
pub struct Spool {
    sender: Option<mpsc::Sender<Bytes>>,
    writer: JoinHandle<io::Result<(u64, [u8; 32])>>,
    temp: TempFile,
}

impl Spool {
    pub async fn write(&mut self, data: Bytes) -> io::Result<()> {
        let sender = self.sender.as_ref().expect("not finished");
        if sender.send(data).await.is_err() {
            // The writer stopped: its error says why.
            self.sender = None;
            return Err(self
                .wait()
                .await
                .err()
                .unwrap_or_else(|| io::Error::other("writer gone")));
        }
        Ok(())
    }

    /// Waits for everything written to be on disk.
    pub async fn finish(mut self) -> io::Result<Spooled> {
        self.sender = None;
        let (size, sha256) = self.wait().await?;
        Ok(Spooled {
            temp: self.temp,
            size,
            sha256,
        })
    }

    async fn wait(&mut self) -> io::Result<(u64, [u8; 32])> {
        (&mut self.writer).await.map_err(io::Error::other)?
    }
}

/// A body received whole into `tmp/`; deleted unless moved into place.
pub struct Spooled {
    temp: TempFile,
    pub size: u64,
    sha256: [u8; 32],
}

/// A file in `tmp/`, deleted when dropped unless renamed.
#[derive(Default)]
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn path(&self) -> &Path {
        self.0.as_deref().expect("not renamed yet")
    }

    fn rename(mut self, to: &Path) -> io::Result<()> {
        std::fs::rename(self.path(), to)?;
        self.0 = None;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// An object's bytes as a response body, read by a blocking thread.
pub struct FileBody {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    remaining: u64,
}

impl FileBody {
    pub fn new(mut file: std::fs::File, size: u64) -> Self {
        let (sender, receiver) = mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let mut left = size;
            while left > 0 {
                let mut buffer = BytesMut::zeroed(IO_CHUNK.min(left as usize));
                let read = match file.read(&mut buffer) {
                    Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let failed = read.is_err();
                let chunk = read.map(|n| {
                    left -= n as u64;
                    buffer.truncate(n);
                    buffer.freeze()
                });
                // A closed channel: the client went away.
                if sender.blocking_send(chunk).is_err() || failed {
                    return;
                }
            }
        });
        Self {
            receiver,
            remaining: size,
        }
    }
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let chunk = match ready!(self.receiver.poll_recv(cx)) {
            Some(Ok(chunk)) => chunk,
            Some(Err(error)) => return Poll::Ready(Some(Err(error))),
            None => return Poll::Ready(Some(Err(io::Error::other("the reader stopped")))),
        };
        self.remaining -= chunk.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(io::Error::other)?
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn random_hex() -> String {
    let mut bytes = [0; 16];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    hex(&bytes)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
