//! S3's XML: the documents the server writes (listings, upload results and
//! `<Error>` bodies), the one it reads (`CompleteMultipartUpload`), and the
//! timestamps they carry.
//!
//! Not a general XML parser: enough for what the AWS SDKs send.

use std::{borrow::Cow, fmt::Write as _};

use axum::response::{IntoResponse, Response};
use http::{header, StatusCode};

const NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// An XML document written element by element.
pub struct Xml(String);

impl Xml {
    /// A document whose root element is `root`, in S3's namespace.
    pub fn new(root: &str) -> Self {
        let mut xml = Self(String::with_capacity(512));
        xml.0.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        let _ = write!(xml.0, r#"<{root} xmlns="{NAMESPACE}">"#);
        xml
    }

    /// A document without a namespace (`<Error>` has none).
    fn bare(root: &str) -> Self {
        let mut xml = Self(String::with_capacity(256));
        xml.0.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        let _ = write!(xml.0, "<{root}>");
        xml
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.0, "<{name}>");
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.0, "</{name}>");
        self
    }

    /// Text, escaped.
    pub fn text(&mut self, text: &str) -> &mut Self {
        escape_into(&mut self.0, text);
        self
    }

    /// `<name>text</name>`, with `text` escaped.
    pub fn element(&mut self, name: &str, text: impl std::fmt::Display) -> &mut Self {
        let _ = write!(self.0, "<{name}>");
        escape_into(&mut self.0, &text.to_string());
        self.close(name)
    }

    /// Closes `root` and answers `status` with the document.
    pub fn finish(mut self, root: &str, status: StatusCode) -> Response {
        self.close(root);
        (status, [(header::CONTENT_TYPE, "application/xml")], self.0).into_response()
    }
}

/// Escapes text for an element's content. A character XML 1.0 cannot carry
/// at all (a control character in an object key, say) is written as a
/// character reference, as S3 does; SDKs ask for `encoding-type=url`
/// listings to avoid them.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n') => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// An S3 error, answered as S3's `<Error>` document so that an SDK reports
/// its code (`ClientError` with `Error.Code` `NoSuchKey`, say).
#[derive(Debug)]
pub struct S3Error {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Cow<'static, str>,
}

impl S3Error {
    fn new(status: StatusCode, code: &'static str, message: &'static str) -> Self {
        Self {
            status,
            code,
            message: Cow::Borrowed(message),
        }
    }

    pub fn no_such_bucket() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist.",
        )
    }

    pub fn no_such_key() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
    }

    pub fn no_such_upload() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "The specified multipart upload does not exist.",
        )
    }

    pub fn bucket_already_owned_by_you() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
        )
    }

    pub fn bucket_not_empty() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty.",
        )
    }

    pub fn invalid_bucket_name() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidBucketName",
            "The specified bucket is not valid.",
        )
    }

    pub fn invalid_part() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidPart",
            "One or more of the specified parts could not be found, or its entity tag did not match.",
        )
    }

    pub fn invalid_part_order() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidPartOrder",
            "The list of parts was not in ascending order.",
        )
    }

    pub fn entity_too_small() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "EntityTooSmall",
            "A part other than the last is smaller than the minimum allowed size (5 MiB).",
        )
    }

    pub fn malformed_xml() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
    }

    pub fn invalid_location_constraint() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidLocationConstraint",
            "The specified location constraint is not valid for this server.",
        )
    }

    pub fn invalid_argument(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidArgument",
            message: message.into(),
        }
    }

    pub fn not_implemented() -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "A header or query parameter you provided implies functionality that is not implemented.",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )
    }

    /// A failure of the server's own (disk, say): logged, not detailed to the client.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!("s3: {error}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }
}

impl From<std::io::Error> for S3Error {
    fn from(error: std::io::Error) -> Self {
        Self::internal(error)
    }
}

impl IntoResponse for S3Error {
    fn into_response(self) -> Response {
        let mut xml = Xml::bare("Error");
        xml.element("Code", self.code)
            .element("Message", &self.message);
        xml.finish("Error", self.status)
    }
}

/// The parts a `CompleteMultipartUpload` body lists, as (part number, ETag),
/// in the order given.
pub fn completed_parts(body: &str) -> Result<Vec<(u32, String)>, S3Error> {
    let root = elements(body, "CompleteMultipartUpload")
        .next()
        .ok_or_else(S3Error::malformed_xml)?;
    elements(root, "Part")
        .map(|part| {
            let number = elements(part, "PartNumber")
                .next()
                .and_then(|n| n.trim().parse().ok())
                .ok_or_else(S3Error::malformed_xml)?;
            let etag = elements(part, "ETag")
                .next()
                .ok_or_else(S3Error::malformed_xml)?;
            Ok((number, unescape(etag.trim())))
        })
        .collect()
}

/// The text of `<LocationConstraint>` in a `CreateBucketConfiguration`, if any.
pub fn location_constraint(body: &str) -> Option<String> {
    elements(body, "LocationConstraint")
        .next()
        .map(|text| unescape(text.trim()))
}

/// The contents of each `<name>…</name>` (or `<name attr…>…</name>`) in
/// `xml`, outermost first, not nested in one another.
fn elements<'a>(xml: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut rest = xml;
    std::iter::from_fn(move || loop {
        let start = rest.find('<')?;
        rest = &rest[start + 1..];
        let Some(after) = rest.strip_prefix(name) else {
            continue;
        };
        let open_end = after.find('>')?;
        // `<PartNumber>` is not `<Part>`.
        if !after[..open_end].is_empty() && !after.starts_with(char::is_whitespace) {
            continue;
        }
        let content = &after[open_end + 1..];
        let end = content.find(&format!("</{name}>"))?;
        rest = &content[end..];
        return Some(&content[..end]);
    })
}

/// Resolves the five predefined entities and character references.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';') else { break };
        let decoded = match &rest[1..semi] {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            reference => reference
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| reference.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `2024-05-01T12:00:00.000Z`, as listings carry it.
pub fn iso8601(unix_ms: u64) -> String {
    let (year, month, day, h, m, s, _) = civil(unix_ms / 1000);
    format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
        unix_ms % 1000
    )
}

/// `Wed, 01 May 2024 12:00:00 GMT`, as `Last-Modified` carries it.
pub fn http_date(unix_ms: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day, h, m, s, days) = civil(unix_ms / 1000);
    format!(
        "{}, {day:02} {} {year:04} {h:02}:{m:02}:{s:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[month as usize - 1]
    )
}

/// Year, month, day, hour, minute, second, and days since 1970-01-01 (a
/// Thursday), of a Unix time (Howard Hinnant's `civil_from_days`).
fn civil(secs: u64) -> (u64, u64, u64, u64, u64, u64, u64) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (
        year,
        month,
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        days,
    )
}
