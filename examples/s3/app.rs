//! The S3 operations: one handler that routes path-style requests
//! (`/<bucket>/<key>`) by method and query, verifies each, and answers as
//! S3 does.
//!
//! Every handler reads its body to the end and calls `verify()` before it
//! acts or answers: an upload is written to a temporary file as it streams
//! and moved into place only once verified; an answer (an S3 error
//! included) leaves only after a successful `verify()`, by the response
//! guard's rule.

use std::{io::Seek as _, sync::Arc};

use axum::{
    body::Body,
    extract::State,
    response::{IntoResponse, Response},
    Router,
};
use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tower_hmac::{
    schemes::sigv4::SigV4, ErrorCode, InMemoryKeys, SignatureLayer, Verified, VerifiedResponse,
    Verifier, VerifyError,
};

use crate::{
    store::{self, Attributes, FileBody, Meta, Spooled, Store},
    xml::{self, S3Error, Xml},
};

/// The most a `CompleteMultipartUpload` or `CreateBucket` body may hold.
const MAX_XML_BODY: usize = 4 * 1024 * 1024;

/// The server's state.
pub struct S3 {
    pub store: Store,
    /// The region buckets are in (`GetBucketLocation`, `CreateBucket`'s `LocationConstraint`).
    pub region: String,
}

/// The SigV4 layer for S3 in `region`, with the keys in `keys` (access key
/// id = key id, secret access key = the secret's base64 text), accepting
/// presigned URLs (`generate_presigned_url`). Unsigned payloads only `over_tls`,
/// where the AWS SDKs send them by default and TLS is what keeps the body
/// intact (the signature covers the head only; the stored object records
/// it); over plain HTTP the SDKs sign the payload, and an unsigned one is
/// refused. Repeated reads (`allow_repeated_reads`): aws-sdk-rust sends
/// identical `GetObject`s and listings within a second, which replay
/// protection would otherwise refuse; uploads and deletes are still
/// accepted once.
pub fn layer(keys: InMemoryKeys, region: &str, over_tls: bool) -> SignatureLayer {
    SignatureLayer::new(keys).scheme(
        SigV4::new("s3")
            .region(region)
            .allow_unsigned_payload(over_tls)
            .allow_presigned_urls(true)
            .allow_repeated_reads(true),
    )
}

/// The S3 endpoint behind `layer`.
pub fn router(s3: Arc<S3>, layer: SignatureLayer) -> Router {
    // One fallback, not axum routes: S3 routes by query as much as by path,
    // and keys may hold anything, `//` and a trailing `/` included.
    Router::new().fallback(handle).with_state(s3).layer(layer)
}

/// What a request is addressed to.
enum Target {
    Service,
    Bucket(String),
    Object(String, String),
}

async fn handle(
    State(s3): State<Arc<S3>>,
    verifier: Verifier,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<VerifiedResponse, VerifyError> {
    let query = Query::parse(uri.query().unwrap_or(""));
    let target = match target(uri.path()) {
        Ok(target) if query.unsupported().is_none() => target,
        Ok(_) => return answer(&verifier, body, Err(S3Error::not_implemented())).await,
        Err(error) => return answer(&verifier, body, Err(error)).await,
    };
    let s3 = &*s3;
    match (target, method) {
        (Target::Service, Method::GET) => {
            let verified = verify_discarding(&verifier, body).await?;
            Ok(verified.respond(list_buckets(s3, &verified).await))
        }
        (Target::Bucket(bucket), Method::PUT) => create_bucket(s3, &verifier, &bucket, body).await,
        (Target::Bucket(bucket), Method::HEAD) => {
            let result = match s3.store.has_bucket(&bucket).await {
                true => Ok(StatusCode::OK.into_response()),
                false => Err(S3Error::no_such_bucket()),
            };
            answer(&verifier, body, result).await
        }
        (Target::Bucket(bucket), Method::DELETE) => {
            let verified = verify_discarding(&verifier, body).await?;
            let result = s3.store.delete_bucket(&bucket).await;
            Ok(verified.respond(result.map(|()| StatusCode::NO_CONTENT)))
        }
        (Target::Bucket(bucket), Method::GET) if query.has("location") => {
            let verified = verify_discarding(&verifier, body).await?;
            let result = s3.store.has_bucket(&bucket).await.then(|| {
                // us-east-1 is written as no constraint at all.
                let region = if s3.region == "us-east-1" {
                    ""
                } else {
                    &s3.region
                };
                let mut xml = Xml::new("LocationConstraint");
                xml.text(region);
                xml.finish("LocationConstraint", StatusCode::OK)
            });
            Ok(verified.respond(result.ok_or_else(S3Error::no_such_bucket)))
        }
        (Target::Bucket(bucket), Method::GET) => {
            let verified = verify_discarding(&verifier, body).await?;
            Ok(verified.respond(list_objects(s3, &bucket, &query).await))
        }
        (Target::Object(bucket, key), Method::PUT) if query.has("uploadId") => {
            upload_part(s3, &verifier, &bucket, &key, &query, body).await
        }
        (Target::Object(..), Method::PUT) if headers.contains_key("x-amz-copy-source") => {
            answer(&verifier, body, Err(S3Error::not_implemented())).await
        }
        (Target::Object(bucket, key), Method::PUT) => {
            put_object(s3, &verifier, &bucket, &key, &headers, body).await
        }
        (Target::Object(bucket, key), method @ (Method::GET | Method::HEAD)) => {
            let verified = verify_discarding(&verifier, body).await?;
            let result = get_object(s3, &bucket, &key, &headers, method == Method::HEAD).await;
            Ok(verified.respond(result))
        }
        (Target::Object(bucket, key), Method::DELETE) => {
            let verified = verify_discarding(&verifier, body).await?;
            let result = match query.get("uploadId") {
                Some(id) => s3.store.abort_upload(&bucket, &key, id).await,
                None => s3.store.delete_object(&bucket, &key).await,
            };
            Ok(verified.respond(result.map(|()| StatusCode::NO_CONTENT)))
        }
        (Target::Object(bucket, key), Method::POST) if query.has("uploads") => {
            let verified = verify_discarding(&verifier, body).await?;
            let result = s3
                .store
                .create_upload(&bucket, &key, attributes(&headers))
                .await
                .map(|id| {
                    let mut xml = Xml::new("InitiateMultipartUploadResult");
                    xml.element("Bucket", &bucket)
                        .element("Key", &key)
                        .element("UploadId", id);
                    xml.finish("InitiateMultipartUploadResult", StatusCode::OK)
                });
            Ok(verified.respond(result))
        }
        (Target::Object(bucket, key), Method::POST) if query.has("uploadId") => {
            complete_upload(s3, &verifier, &bucket, &key, &query, body).await
        }
        (Target::Bucket(_) | Target::Object(..), Method::POST) => {
            answer(&verifier, body, Err(S3Error::not_implemented())).await
        }
        _ => answer(&verifier, body, Err(S3Error::method_not_allowed())).await,
    }
}

/// Answers with `result` once the request, whose body is of no use, is verified.
async fn answer(
    verifier: &Verifier,
    body: Body,
    result: Result<Response, S3Error>,
) -> Result<VerifiedResponse, VerifyError> {
    let verified = verify_discarding(verifier, body).await?;
    Ok(verified.respond(result))
}

/// Reads what is left of the body, throwing it away, and verifies.
async fn verify_discarding(verifier: &Verifier, mut body: Body) -> Result<Verified, VerifyError> {
    // A broken body is reported by verify().
    while let Some(Ok(_)) = body.frame().await {}
    verifier.verify().await
}

/// Reads a small body whole and verifies it.
async fn read_small(verifier: &Verifier, mut body: Body) -> Result<(Bytes, Verified), VerifyError> {
    let mut bytes = BytesMut::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            if bytes.len() + data.len() > MAX_XML_BODY {
                return Err(verifier.refuse(ErrorCode::BodyTooLarge));
            }
            bytes.extend_from_slice(data);
        }
    }
    let verified = verifier.verify().await?;
    Ok((bytes.freeze(), verified))
}

/// Streams the body into a temporary file. It is not verified yet: the
/// caller verifies, then moves the file into place or drops it (deleting it).
async fn receive(store: &Store, mut body: Body) -> std::io::Result<Spooled> {
    let mut spool = store.spool().await?;
    while let Some(frame) = body.frame().await {
        // A broken body is reported by verify().
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data() {
            if let Err(error) = spool.write(data).await {
                while let Some(Ok(_)) = body.frame().await {}
                return Err(error);
            }
        }
    }
    spool.finish().await
}

async fn put_object(
    s3: &S3,
    verifier: &Verifier,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<VerifiedResponse, VerifyError> {
    if !s3.store.has_bucket(bucket).await {
        return answer(verifier, body, Err(S3Error::no_such_bucket())).await;
    }
    let received = receive(&s3.store, body).await;
    // Refused: `received` is dropped, and its file with it.
    let verified = verifier.verify().await?;
    let result = match received {
        Ok(body) => s3
            .store
            .put_object(
                bucket,
                key,
                body,
                attributes(headers),
                verified.body_authenticated(),
            )
            .await
            .map(|meta| etag_response(&meta.etag)),
        Err(error) => Err(error.into()),
    };
    Ok(verified.respond(result))
}

async fn upload_part(
    s3: &S3,
    verifier: &Verifier,
    bucket: &str,
    key: &str,
    query: &Query,
    body: Body,
) -> Result<VerifiedResponse, VerifyError> {
    let upload_id = query.get("uploadId").unwrap_or_default();
    let Some(number) = query.get("partNumber").and_then(|n| n.parse().ok()) else {
        let error = S3Error::invalid_argument("partNumber must be an integer.");
        return answer(verifier, body, Err(error)).await;
    };
    if !s3.store.has_upload(bucket, key, upload_id).await {
        return answer(verifier, body, Err(S3Error::no_such_upload())).await;
    }
    let received = receive(&s3.store, body).await;
    let verified = verifier.verify().await?;
    let result = match received {
        Ok(body) => s3
            .store
            .put_part(
                bucket,
                key,
                upload_id,
                number,
                body,
                verified.body_authenticated(),
            )
            .await
            .map(|etag| etag_response(&etag)),
        Err(error) => Err(error.into()),
    };
    Ok(verified.respond(result))
}

async fn complete_upload(
    s3: &S3,
    verifier: &Verifier,
    bucket: &str,
    key: &str,
    query: &Query,
    body: Body,
) -> Result<VerifiedResponse, VerifyError> {
    let (body, verified) = read_small(verifier, body).await?;
    let upload_id = query.get("uploadId").unwrap_or_default();
    let result: Result<_, S3Error> = async {
        let body = std::str::from_utf8(&body).map_err(|_| S3Error::malformed_xml())?;
        let parts = xml::completed_parts(body)?;
        let meta = s3
            .store
            .complete_upload(bucket, key, upload_id, &parts)
            .await?;
        let mut xml = Xml::new("CompleteMultipartUploadResult");
        xml.element("Location", format!("/{bucket}/{}", encode(key)))
            .element("Bucket", bucket)
            .element("Key", key)
            .element("ETag", &meta.etag);
        Ok(xml.finish("CompleteMultipartUploadResult", StatusCode::OK))
    }
    .await;
    Ok(verified.respond(result))
}

async fn create_bucket(
    s3: &S3,
    verifier: &Verifier,
    bucket: &str,
    body: Body,
) -> Result<VerifiedResponse, VerifyError> {
    let (body, verified) = read_small(verifier, body).await?;
    // A `CreateBucketConfiguration` may name the region; this server has one.
    let constraint = std::str::from_utf8(&body)
        .ok()
        .and_then(xml::location_constraint);
    let result =
        match constraint {
            Some(region) if region != s3.region && !region.is_empty() => {
                Err(S3Error::invalid_location_constraint())
            }
            _ => s3.store.create_bucket(bucket).await.map(|()| {
                ([(header::LOCATION, format!("/{bucket}"))], StatusCode::OK).into_response()
            }),
        };
    Ok(verified.respond(result))
}

async fn list_buckets(s3: &S3, verified: &Verified) -> Response {
    let owner = verified.key_id().to_string();
    let mut xml = Xml::new("ListAllMyBucketsResult");
    xml.open("Owner")
        .element("ID", &owner)
        .element("DisplayName", &owner)
        .close("Owner")
        .open("Buckets");
    for (name, created_ms) in s3.store.buckets().await {
        xml.open("Bucket")
            .element("Name", name)
            .element("CreationDate", xml::iso8601(created_ms))
            .close("Bucket");
    }
    xml.close("Buckets");
    xml.finish("ListAllMyBucketsResult", StatusCode::OK)
}

/// ListObjectsV2 (`list-type=2`: `continuation-token`, `start-after`) or
/// ListObjects (`marker`), with `prefix`, `delimiter`, `max-keys` and
/// `encoding-type=url` (which boto3 always asks for, and decodes).
async fn list_objects(s3: &S3, bucket: &str, query: &Query) -> Result<Response, S3Error> {
    let v2 = query.get("list-type") == Some("2");
    let prefix = query.get("prefix").unwrap_or_default();
    let delimiter = query.get("delimiter").unwrap_or_default();
    let max = match query.get("max-keys") {
        None => store::MAX_KEYS,
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| S3Error::invalid_argument("max-keys must be a non-negative integer."))?
            .min(store::MAX_KEYS),
    };
    let url = match query.get("encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "Invalid Encoding Method specified.",
            ))
        }
    };
    let token = query.get("continuation-token");
    let after = match (v2, token) {
        (true, Some(token)) => Some(
            unhex(token)
                .ok_or_else(|| S3Error::invalid_argument("The continuation token is not valid."))?,
        ),
        (true, None) => query.get("start-after").map(str::to_owned),
        (false, _) => query.get("marker").map(str::to_owned),
    };
    let listing = s3
        .store
        .list(bucket, prefix, delimiter, after.as_deref(), max)
        .await?;

    let text = |s: &str| if url { encode(s) } else { s.to_owned() };
    let mut xml = Xml::new("ListBucketResult");
    xml.element("Name", bucket)
        .element("Prefix", text(prefix))
        .element("MaxKeys", max)
        .element("IsTruncated", listing.next.is_some());
    if !delimiter.is_empty() {
        xml.element("Delimiter", text(delimiter));
    }
    if url {
        xml.element("EncodingType", "url");
    }
    if v2 {
        xml.element(
            "KeyCount",
            listing.objects.len() + listing.common_prefixes.len(),
        );
        if let Some(token) = token {
            xml.element("ContinuationToken", token);
        }
        if let Some(after) = query.get("start-after") {
            xml.element("StartAfter", text(after));
        }
        if let Some(next) = &listing.next {
            xml.element("NextContinuationToken", store::hex(next.as_bytes()));
        }
    } else {
        xml.element("Marker", text(query.get("marker").unwrap_or_default()));
        if let Some(next) = &listing.next {
            xml.element("NextMarker", text(next));
        }
    }
    for meta in &listing.objects {
        xml.open("Contents")
            .element("Key", text(&meta.key))
            .element("LastModified", xml::iso8601(meta.modified_ms))
            .element("ETag", &meta.etag)
            .element("Size", meta.size)
            .element("StorageClass", "STANDARD")
            .close("Contents");
    }
    for common in &listing.common_prefixes {
        xml.open("CommonPrefixes")
            .element("Prefix", text(common))
            .close("CommonPrefixes");
    }
    Ok(xml.finish("ListBucketResult", StatusCode::OK))
}

/// GetObject or HeadObject, with one `Range` (`bytes=a-b`, `a-`, `-n`) if asked.
async fn get_object(
    s3: &S3,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, S3Error> {
    let (meta, mut file) = if head {
        // No file to open, but the same metadata (and errors).
        let meta = s3.store.head_object(bucket, key).await?;
        (meta, None)
    } else {
        let (meta, file) = s3.store.open_object(bucket, key).await?;
        (meta, Some(file))
    };
    let range = match headers.get(header::RANGE) {
        Some(range) => Some(byte_range(range, meta.size).ok_or_else(|| S3Error {
            status: StatusCode::RANGE_NOT_SATISFIABLE,
            code: "InvalidRange",
            message: "The requested range is not satisfiable".into(),
        })?),
        None => None,
    };
    let (start, len) = range.unwrap_or((0, meta.size));
    let mut response = Response::builder()
        .status(if range.is_some() {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        })
        .header(header::CONTENT_LENGTH, len)
        .header(header::ACCEPT_RANGES, "bytes");
    if range.is_some() {
        let range = format!("bytes {start}-{}/{}", start + len - 1, meta.size);
        response = response.header(header::CONTENT_RANGE, range);
    }
    let headers = response.headers_mut().expect("a valid builder");
    object_headers(headers, &meta);
    let body = match &mut file {
        None => Body::empty(),
        Some(file) => {
            file.seek(std::io::SeekFrom::Start(start))?;
            Body::new(FileBody::new(file.try_clone()?, len))
        }
    };
    Ok(response.body(body).expect("valid headers"))
}

/// `Content-Type`, `ETag`, `Last-Modified` and the `x-amz-meta-*` of an object.
fn object_headers(headers: &mut HeaderMap, meta: &Meta) {
    let content_type = meta
        .content_type
        .as_deref()
        .unwrap_or("binary/octet-stream");
    let values = [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (header::ETAG, meta.etag.clone()),
        (header::LAST_MODIFIED, xml::http_date(meta.modified_ms)),
    ];
    let user = meta.user_metadata.iter().filter_map(|(name, value)| {
        Some((format!("x-amz-meta-{name}").parse().ok()?, value.clone()))
    });
    for (name, value) in values.into_iter().chain(user) {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    }
}

/// The (start, length) of a single-range `Range` header within `size` bytes.
fn byte_range(range: &HeaderValue, size: u64) -> Option<(u64, u64)> {
    let spec = range.to_str().ok()?.strip_prefix("bytes=")?;
    let (first, last) = spec.split_once('-')?;
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            (size.checked_sub(n.min(size))?, size.checked_sub(1)?)
        }
        (first, "") => (first.parse().ok()?, size.checked_sub(1)?),
        (first, last) => (
            first.parse().ok()?,
            last.parse::<u64>().ok()?.min(size.checked_sub(1)?),
        ),
    };
    (start <= end).then_some((start, end - start + 1))
}

fn etag_response(etag: &str) -> Response {
    ([(header::ETAG, etag.to_owned())], StatusCode::OK).into_response()
}

/// `Content-Type` and the `x-amz-meta-*` headers, kept with the object.
fn attributes(headers: &HeaderMap) -> Attributes {
    let text = |value: &HeaderValue| value.to_str().ok().map(str::to_owned);
    Attributes {
        content_type: headers.get(header::CONTENT_TYPE).and_then(text),
        user_metadata: headers
            .iter()
            .filter_map(|(name, value)| {
                let name = name.as_str().strip_prefix("x-amz-meta-")?;
                Some((name.to_owned(), text(value)?))
            })
            .collect(),
    }
}

/// The bucket and key of a path-style target, percent-decoded.
fn target(path: &str) -> Result<Target, S3Error> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    if bucket.is_empty() {
        return Ok(Target::Service);
    }
    let bucket = decode(bucket).filter(|b| store::valid_bucket_name(b));
    let bucket = bucket.ok_or_else(S3Error::invalid_bucket_name)?;
    match decode(key) {
        Some(key) if key.is_empty() => Ok(Target::Bucket(bucket)),
        Some(key) => Ok(Target::Object(bucket, key)),
        None => Err(S3Error::invalid_argument("The key is not valid UTF-8.")),
    }
}

/// A request's query, percent-decoded (`+` is a plus, as SDKs send it).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: &str) -> Self {
        let pairs = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                Some((decode(name)?, decode(value)?))
            })
            .collect();
        Self(pairs)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A parameter naming something this server does not do (`?acl`,
    /// `?tagging`, `?versionId`...): such a request is answered
    /// `NotImplemented` rather than mistaken for a plain one. SigV4's own
    /// `X-Amz-*` (presigned URLs) and the SDKs' `x-id` are not of that kind.
    fn unsupported(&self) -> Option<&str> {
        const KNOWN: &[&str] = &[
            "list-type",
            "prefix",
            "delimiter",
            "max-keys",
            "continuation-token",
            "start-after",
            "encoding-type",
            "fetch-owner",
            "marker",
            "location",
            "uploads",
            "uploadId",
            "partNumber",
            "x-id",
        ];
        self.0.iter().map(|(name, _)| name.as_str()).find(|name| {
            !KNOWN.contains(name)
                && !name
                    .get(..6)
                    .is_some_and(|p| p.eq_ignore_ascii_case("x-amz-"))
        })
    }
}

fn decode(text: &str) -> Option<String> {
    percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Everything but the unreserved characters and `/`, as `encoding-type=url` wants it.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn encode(text: &str) -> String {
    utf8_percent_encode(text, ENCODE).to_string()
}

fn unhex(token: &str) -> Option<String> {
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}
