//! The server target's input: a small text format, so that the committed
//! seeds are readable (the test vectors as requests, requests for the
//! harness to sign) and byte mutations stay meaningful.
//!
//! ```text
//! lenient early content-type unread=5 drain=3 noreplay blake3  <- layer config (any words)
//! POST /v1/orders                                           <- method and target
//! host: api.example.com                                     <- field lines, in order
//! x-fuzz-sign: key=client-1 t=-3 nonce=fresh digest=yes chunked=no extra=x-tag alg=blake3
//! x-fuzz-handler: read-all
//! x-fuzz-body: hint=exact frames=2,5 fails trailers yields ends-early version=2 bare
//! x-fuzz-after: set content-type text/plain                 <- changes after signing
//!                                                           <- blank line
//! {"item":"widget","qty":3}                                 <- body
//! ===                                                       <- next request (3 at most)
//! ```
//!
//! Every `x-fuzz-*` line is a directive for the harness and is not sent.
//! `blake3` makes the layer accept `BLAKE3-KEYED` too, and `alg=blake3`
//! signs with it (PROTOCOL §9; the layer refuses it without `blake3`).
//! `x-fuzz-handler`: `read-all`, `read-some N`, `drop`, `ignore`,
//! `refuse-some N S`, `refuse S`, `echo S`. `x-fuzz-sign` keys: `client-1`,
//! `7`, `8`, `long` (valid), `wrong` (7's id, 8's secret), `unknown`,
//! `old`, `new`. `x-fuzz-after`: `set NAME VALUE`, `add NAME VALUE`,
//! `del NAME`, `flip-auth POS`, `flip-body POS`, `method M`, `target T`,
//! `flip-target POS`, `query TEXT` (appended to the query), `append TEXT`,
//! `truncate N`. `x-fuzz-replay: yes` sends the previous
//! request again, unchanged. For a body sent in chunks, `frames` cuts the
//! data into chunks and `wire` cuts the framed bytes into frames.
//! `version` (`0.9`, `1.0`, `1.1`, `2`, `3`; 1.1 by default) is the
//! request's HTTP version. A body of unknown length (no `hint`) sent over
//! HTTP/1.x gets `Transfer-Encoding: chunked`, as hyper hands it on,
//! unless the head has `Content-Length` or `Transfer-Encoding` already or
//! `bare` says not to: such a request has no body by RFC 9112 §6.3.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};
use tower_hmac::{
    schemes::hmac_sha256::{chunk_header, chunk_signature},
    Algorithm, BodyDigest, Nonce, Signer,
};

use crate::{
    server::{self, Config, Handler, Hint, Step, Wire},
    spec,
};

/// One parsed request of the script.
#[derive(Debug, Clone, Default)]
pub struct Text {
    pub method: Vec<u8>,
    pub target: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
    pub handler: Option<Vec<u8>>,
    pub sign: Option<Vec<u8>>,
    pub body_options: Vec<u8>,
    pub after: Vec<Vec<u8>>,
    pub replay: bool,
}

pub struct Script {
    /// The first line, as written (its words configure the layer).
    pub first_line: Vec<u8>,
    pub config: Config,
    pub requests: Vec<Text>,
}

pub(crate) fn words(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty())
}

pub(crate) fn number(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

pub(crate) fn split_once<'a>(bytes: &'a [u8], needle: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = bytes.windows(needle.len()).position(|w| w == needle)?;
    Some((&bytes[..at], &bytes[at + needle.len()..]))
}

pub fn parse(data: &[u8]) -> Script {
    let (first, rest) = split_once(data, b"\n").unwrap_or((data, b""));
    let mut config = Config::default();
    for word in words(first) {
        let (key, value) = split_once(word, b"=").unwrap_or((word, b""));
        let small = || number(value).map(|n| n.clamp(0, 255) as u8);
        match key {
            b"lenient" => config.lenient_clock = true,
            b"early" => config.require_early = true,
            b"content-type" => config.require_content_type = true,
            b"unread" => config.small_unread_limit = small(),
            b"drain" => config.small_drain = small(),
            b"noreplay" => config.no_replay_protection = true,
            b"blake3" => config.blake3 = true,
            _ => {}
        }
    }
    let mut requests = Vec::new();
    let mut rest = rest;
    while requests.len() < 3 && !(rest.is_empty() && !requests.is_empty()) {
        let (one, next) = split_once(rest, b"\n===\n").unwrap_or((rest, b""));
        requests.push(parse_request(one));
        rest = next;
        if rest.is_empty() {
            break;
        }
    }
    Script {
        first_line: first.to_vec(),
        config,
        requests,
    }
}

fn parse_request(text: &[u8]) -> Text {
    let (head, body) = split_once(text, b"\n\n").unwrap_or((text, b""));
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let mut out = Text {
        body: body.to_vec(),
        ..Text::default()
    };
    let request_line = lines.next().unwrap_or_default();
    let (method, target) = split_once(request_line, b" ").unwrap_or((request_line, b"/"));
    out.method = method.to_vec();
    out.target = target.to_vec();
    for line in lines {
        let Some((name, value)) = split_once(line, b":") else {
            continue;
        };
        let value = spec::trim_sp_htab(value).to_vec();
        match name.to_ascii_lowercase().as_slice() {
            b"x-fuzz-handler" => out.handler = Some(value),
            b"x-fuzz-sign" => out.sign = Some(value),
            b"x-fuzz-body" => out.body_options = value,
            b"x-fuzz-after" => out.after.push(value),
            b"x-fuzz-replay" => out.replay = true,
            _ => out.headers.push((name.to_vec(), value)),
        }
    }
    out
}

pub fn handler(text: &Text) -> Handler {
    let Some(value) = &text.handler else {
        return Handler::ReadAllVerify;
    };
    let mut words = words(value);
    let name = words.next().unwrap_or_default();
    let mut arg = || {
        words
            .next()
            .and_then(number)
            .map_or(0, |n| n.clamp(0, 255) as u8)
    };
    match name {
        b"read-some" => Handler::ReadSomeVerify(arg()),
        b"drop" => Handler::DropVerify,
        b"ignore" => Handler::ReadAllIgnoreFailure,
        b"refuse-some" => {
            let n = arg();
            Handler::ReadSomeRefuse(n, arg())
        }
        b"refuse" => Handler::RefuseUntouched(arg()),
        b"echo" => Handler::ReturnBody4xx(arg()),
        _ => Handler::ReadAllVerify,
    }
}

/// Cuts `bytes` at the given offsets (clamped, sorted) into frames.
pub(crate) fn cut(bytes: &[u8], cuts: &[usize]) -> Vec<Bytes> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut from = 0;
    for c in cuts {
        pieces.push(Bytes::copy_from_slice(&bytes[from..c]));
        from = c;
    }
    pieces.push(Bytes::copy_from_slice(&bytes[from..]));
    pieces
}

pub(crate) fn offsets(value: &[u8]) -> Vec<usize> {
    value
        .split(|&b| b == b',')
        .filter_map(number)
        .take(16)
        .map(|n| n.clamp(0, 1 << 20) as usize)
        .collect()
}

pub(crate) fn header(name: &[u8], value: &[u8]) -> Option<(HeaderName, HeaderValue)> {
    Some((
        HeaderName::from_bytes(name).ok()?,
        HeaderValue::from_bytes(value).ok()?,
    ))
}

/// The signer of a `key=` word, and its secret's bytes.
fn signer(key: &[u8]) -> (Signer, &'static [u8]) {
    let (id, secret): (&str, &'static [u8]) = match key {
        b"7" => ("7", server::SECRET_7),
        b"8" => ("8", server::SECRET_8),
        b"long" => (server::LONG_ID, server::SECRET_LONG),
        b"wrong" => ("7", server::SECRET_8),
        b"unknown" => ("9", server::SECRET_8),
        b"old" => ("old", server::SECRET_OLD),
        b"new" => ("new", server::SECRET_NEW),
        _ => (server::CLIENT_1, server::SECRET_CLIENT_1),
    };
    (
        Signer::new(id.parse().unwrap(), server::secret(secret)),
        secret,
    )
}

/// What `x-fuzz-body` says.
#[derive(Debug, Clone)]
pub(crate) struct BodyOptions {
    pub hint: Hint,
    pub version: Version,
    pub ends_early: bool,
    pub fails: bool,
    pub trailers: bool,
    pub yields: bool,
    pub bare: bool,
    /// Where the data is cut into frames (or chunks).
    pub frames: Vec<usize>,
    /// Where a body sent in chunks is cut into frames.
    pub wire_cuts: Option<Vec<usize>>,
}

impl BodyOptions {
    pub(crate) fn of(value: &[u8]) -> Self {
        let mut o = Self {
            hint: Hint::Unknown,
            version: Version::HTTP_11,
            ends_early: false,
            fails: false,
            trailers: false,
            yields: false,
            bare: false,
            frames: Vec::new(),
            wire_cuts: None,
        };
        for word in words(value) {
            let (key, value) = split_once(word, b"=").unwrap_or((word, b""));
            match key {
                b"hint" => {
                    o.hint = match value {
                        b"exact" => Hint::Exact,
                        b"unknown" => Hint::Unknown,
                        n => number(n).map_or(Hint::Unknown, |n| Hint::Lie(n.clamp(0, 255) as u8)),
                    }
                }
                b"version" => {
                    o.version = match value {
                        b"0.9" => Version::HTTP_09,
                        b"1.0" => Version::HTTP_10,
                        b"2" => Version::HTTP_2,
                        b"3" => Version::HTTP_3,
                        _ => Version::HTTP_11,
                    }
                }
                b"bare" => o.bare = true,
                b"frames" => o.frames = offsets(value),
                b"wire" => o.wire_cuts = Some(offsets(value)),
                b"ends-early" => o.ends_early = true,
                b"fails" => o.fails = true,
                b"trailers" => o.trailers = true,
                b"yields" => o.yields = true,
                _ => {}
            }
        }
        o
    }
}

/// The method, target and field lines a script entry writes.
pub(crate) fn head(text: &Text) -> http::Request<()> {
    let method = Method::from_bytes(&text.method).unwrap_or(Method::GET);
    let uri = Uri::try_from(text.target.as_slice()).unwrap_or_else(|_| Uri::from_static("/"));
    let mut headers = HeaderMap::new();
    for (name, value) in text.headers.iter().take(16) {
        if let Some((name, value)) = header(name, value) {
            headers.append(name, value);
        }
    }
    let mut request = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(())
        .unwrap();
    *request.headers_mut() = headers;
    request
}

/// Builds the request a script entry describes: signed if it says so,
/// then changed as `x-fuzz-after` says.
pub fn build(text: &Text, fixed_nonce: &Nonce) -> Wire {
    let options = BodyOptions::of(&text.body_options);
    let mut request = head(text);
    let mut pieces = cut(&text.body, &options.frames);
    let mut chunked_with: Option<(&'static [u8], [u8; 32])> = None;
    let mut algorithm = Algorithm::HmacSha256;

    if let Some(sign) = &text.sign {
        let mut key = &b"client-1"[..];
        let (mut offset, mut digest, mut chunked) = (0i64, true, false);
        let mut nonce = Nonce::random();
        let mut extra = Vec::new();
        for word in words(sign) {
            let (k, v) = split_once(word, b"=").unwrap_or((word, b""));
            match k {
                b"key" => key = v,
                b"t" => offset = number(v).unwrap_or(0).clamp(-1 << 40, 1 << 40),
                b"nonce" => {
                    nonce = match v {
                        b"fixed" => fixed_nonce.clone(),
                        b"fresh" => Nonce::random(),
                        text => std::str::from_utf8(text)
                            .ok()
                            .and_then(|t| Nonce::new(t).ok())
                            .unwrap_or_else(Nonce::random),
                    }
                }
                b"digest" => digest = v != b"no",
                b"chunked" => chunked = v == b"yes",
                b"extra" => extra = v.split(|&b| b == b',').map(<[u8]>::to_vec).collect(),
                b"alg" if v == b"blake3" => algorithm = Algorithm::Blake3Keyed,
                _ => {}
            }
        }
        let (mut signer, secret) = signer(key);
        signer = signer.declare_digest(digest).algorithm(algorithm);
        for name in extra.iter().take(4) {
            if let Ok(name) = HeaderName::from_bytes(name) {
                signer = signer.sign_header(name);
            }
        }
        let time = server::unix_now().saturating_add_signed(offset);
        if chunked {
            let (parts, ()) = request.clone().into_parts();
            let plain = http::Request::from_parts(parts, http_body_util::Empty::<Bytes>::new());
            if let Ok(signed) = signer.sign_chunked_at(plain, time, nonce) {
                let (parts, _) = signed.into_parts();
                let seed = spec::parse_authorization_any(parts.headers["authorization"].as_bytes())
                    .expect("the signer's header")
                    .signature;
                chunked_with = Some((secret, seed));
                request = http::Request::from_parts(parts, ());
            }
        } else {
            let mut signed = request.clone();
            if signer
                .sign_at(
                    &mut signed,
                    &BodyDigest::for_algorithm(algorithm, &text.body),
                    time,
                    nonce,
                )
                .is_ok()
            {
                request = signed;
            }
        }
    }

    if let Some((secret_bytes, seed)) = chunked_with {
        // The data's pieces are the chunks, encoded with the crate's encoders.
        let secret = server::secret(secret_bytes);
        let mut previous = seed;
        let mut wire = Vec::new();
        let mut chunk_frames = Vec::new();
        for chunk in pieces
            .iter()
            .filter(|p| !p.is_empty())
            .chain([&Bytes::new()])
        {
            previous = chunk_signature(
                &secret,
                &previous,
                &BodyDigest::for_algorithm(algorithm, chunk),
            );
            let mut frame = chunk_header(chunk.len() as u64, &previous).to_vec();
            frame.extend_from_slice(chunk);
            frame.extend_from_slice(b"\r\n");
            wire.extend_from_slice(&frame);
            chunk_frames.push(Bytes::from(frame));
        }
        pieces = match &options.wire_cuts {
            Some(cuts) => cut(&wire, cuts),
            None => chunk_frames,
        };
    }

    let (parts, ()) = request.into_parts();
    finish(parts, pieces, &options, &text.after)
}

/// The rest of a request after signing: `Transfer-Encoding` for a body
/// of unknown length over HTTP/1.x, the `x-fuzz-after` changes, and the
/// body's steps. `pieces` are the body's frames as signed.
pub(crate) fn finish(
    mut parts: http::request::Parts,
    mut pieces: Vec<Bytes>,
    options: &BodyOptions,
    after: &[Vec<u8>],
) -> Wire {
    let mut body: Vec<u8> = pieces.iter().flat_map(|p| p.to_vec()).collect();
    // A body of unknown length comes over HTTP/1.x as `Transfer-Encoding:
    // chunked`, as hyper hands it on (without the field, or with `bare`,
    // the request has no body by RFC 9112 §6.3, whatever its frames carry).
    let framed = parts.headers.contains_key(http::header::CONTENT_LENGTH)
        || parts.headers.contains_key(http::header::TRANSFER_ENCODING);
    if options.hint == Hint::Unknown
        && options.version <= Version::HTTP_11
        && !options.bare
        && !framed
        && (!body.is_empty() || options.trailers)
    {
        parts.headers.insert(
            http::header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
    }
    let mut reframe = false;
    for after in after.iter().take(4) {
        let (op, args) = split_once(after, b" ").unwrap_or((after, b""));
        let (arg, rest) = split_once(args, b" ").unwrap_or((args, b""));
        let position = |len: usize| number(arg).map(|n| (n.unsigned_abs() as usize) % len.max(1));
        match op {
            b"set" | b"add" => {
                if let Some((name, value)) = header(arg, rest) {
                    if op == b"set" {
                        parts.headers.insert(name, value);
                    } else {
                        parts.headers.append(name, value);
                    }
                }
            }
            b"del" => {
                if let Ok(name) = HeaderName::from_bytes(arg) {
                    parts.headers.remove(name);
                }
            }
            b"flip-auth" => {
                if let Some(value) = parts.headers.get("authorization") {
                    let mut bytes = value.as_bytes().to_vec();
                    if let Some(at) = position(bytes.len()).filter(|_| !bytes.is_empty()) {
                        bytes[at] ^= 1;
                    }
                    if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                        parts.headers.insert("authorization", value);
                    }
                }
            }
            b"flip-body" => {
                if let Some(at) = position(body.len()).filter(|_| !body.is_empty()) {
                    body[at] ^= 1;
                    reframe = true;
                }
            }
            b"method" => {
                if let Ok(method) = Method::from_bytes(arg) {
                    parts.method = method;
                }
            }
            b"target" => {
                if let Ok(uri) = Uri::try_from(arg) {
                    parts.uri = uri;
                }
            }
            b"flip-target" => {
                let mut bytes = parts.uri.to_string().into_bytes();
                if let Some(at) = position(bytes.len()).filter(|_| !bytes.is_empty()) {
                    bytes[at] ^= 1;
                    if let Ok(uri) = Uri::try_from(bytes) {
                        parts.uri = uri;
                    }
                }
            }
            b"query" => {
                let target = parts.uri.to_string();
                let join = if parts.uri.query().is_some() {
                    "&"
                } else {
                    "?"
                };
                let mut bytes = target.into_bytes();
                bytes.extend_from_slice(join.as_bytes());
                bytes.extend_from_slice(args);
                if let Ok(uri) = Uri::try_from(bytes) {
                    parts.uri = uri;
                }
            }
            b"append" => {
                body.extend_from_slice(args);
                reframe = true;
            }
            b"truncate" => {
                body.truncate(number(arg).map_or(0, |n| n.unsigned_abs() as usize));
                reframe = true;
            }
            _ => {}
        }
    }
    if reframe {
        // The same frame lengths as far as they go, the rest in one frame.
        let mut cuts = Vec::new();
        let mut at = 0;
        for piece in &pieces {
            at += piece.len();
            cuts.push(at);
        }
        pieces = cut(&body, &cuts);
    }
    let mut steps = Vec::new();
    for piece in pieces {
        if options.yields {
            steps.push(Step::Yield);
        }
        steps.push(Step::Data(piece));
    }
    // A body of one empty frame is a body without frames.
    if matches!(steps.as_slice(), [Step::Data(d)] if d.is_empty()) {
        steps.clear();
    }
    if options.trailers {
        let mut map = HeaderMap::new();
        map.insert("x-trailer", HeaderValue::from_static("t"));
        steps.push(Step::Trailers(map));
    }
    if options.fails {
        steps.push(Step::Error);
    }
    Wire {
        method: parts.method,
        uri: parts.uri,
        version: options.version,
        headers: parts.headers,
        steps,
        hint: options.hint,
        ends_early: options.ends_early,
    }
}

/// Runs a whole script against a fresh app, checking every exchange with
/// [`server::check`]; what came back.
pub fn run(data: &[u8]) -> Vec<server::Exchange> {
    let script = parse(data);
    let app = server::App::new(script.config);
    let fixed_nonce = Nonce::new("FuzzFixedNonce-0123456").unwrap();
    let mut accepted = Vec::new();
    let mut nonces_sent: Vec<String> = Vec::new();
    let mut previous: Option<Wire> = None;
    let mut exchanges = Vec::new();
    for text in &script.requests {
        let handler = handler(text);
        let wire = match (&previous, text.replay) {
            (Some(previous), true) => previous.clone(),
            _ => build(text, &fixed_nonce),
        };
        let nonce = wire
            .headers
            .get("authorization")
            .and_then(|v| spec::parse_authorization_any(v.as_bytes()))
            .map(|a| a.nonce);
        let fresh = nonce.as_ref().is_none_or(|n| !nonces_sent.contains(n));
        let exchange = server::send(&app, &wire, handler);
        server::check(&app, &wire, handler, &exchange, fresh, &mut accepted);
        nonces_sent.extend(nonce);
        previous = Some(wire);
        exchanges.push(exchange);
    }
    exchanges
}
