//! The server in process with the SigV4 scheme: the app of [`server`]
//! (its recording handler, scripted bodies and outcome hook) behind
//! `SignatureLayer::new(keys).scheme(SigV4::new("s3").allow_presigned_urls(true)
//! .allow_unsigned_payload(true))`, requests signed at run time by the
//! independent signer of [`v4`] (the crate reads `SystemTime::now()` and
//! offers no clock of its own: a request dated by the input's offset from
//! now is fresh whenever it runs), and [`check`], which judges every
//! exchange with [`v4`], never with the crate's verifier.
//!
//! The input is the text format of [`crate::script`], with SigV4 words:
//!
//! ```text
//! service=s3 region=us-east-1 signed-only no-presigned explain lenient early noreplay
//! PUT /b/k?versionId=1
//! host: 127.0.0.1:9000
//! x-fuzz-sign: key=7 t=-3 mode=header payload=hex checksum=crc32 headers=host,x-amz-date
//! x-fuzz-body: hint=exact frames=3
//! x-fuzz-after: query X-Amz-Signatur%65=x
//!
//! body
//! ```
//!
//! First line: `service=` (the scheme's service; `s3` by default, any
//! other name takes the normalised URI rule), `region=` (accepted regions;
//! `us-east-1` by default), `signed-only` (unsigned payloads refused),
//! `no-presigned`, `repeated-reads` (`allow_repeated_reads`), `explain`
//! (`explain_refusals`), and the words of
//! [`crate::script`] (`lenient` gives SigV4 a clock skew of 200 years too).
//! `x-fuzz-sign` words: `key=` (`7`, `client-1`, `8`, `long`, `akia` valid;
//! `wrong` is 7's id with 8's secret; `unknown`, `old`, `new`), `t=` (seconds
//! from now), `mode=header|presigned`, `payload=hex|HEX|wrong|unsigned|none|
//! signed|signed-trailer|unsigned-trailer` (the last three aws-chunked, the
//! data cut into chunks by `frames`), `expires=`, `region=`, `service=`,
//! `date=` (the scope's date), `amz=` (`X-Amz-Date` as written; `leap`:
//! now, with second 60),
//! `headers=a,b` (the signed headers; by default
//! every field sent, and `host`; for a presigned URL `host` and the
//! `x-amz-*` ones), `checksum=ALG` (an `x-amz-checksum-*` header),
//! `trailer=ALG`, `length=no|N` (`x-amz-decoded-content-length`), `upper`
//! (chunk sizes in upper case), `compact` (`,` between the parameters),
//! `lower` (the algorithm in lower case), `botocore` (tabs folded).

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use tower_hmac::{schemes::sigv4::SigV4, InMemoryKeys, Outcome};

use crate::{
    script::{self, BodyOptions, Text},
    server::{self, App, Config, Exchange, Handler, HookCaller, Wire},
    sigv4_spec::{self as v4, Checksum, ChunkKey, Reading, Stream, UriMode},
    spec,
};

// ---------------------------------------------------------------- keys

pub const AKIA: &str = "AKIAIOSFODNN7EXAMPLE";
/// AWS's example secret access key, as bytes (it is base64 text already).
pub fn akia_secret() -> &'static [u8] {
    static SECRET: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    SECRET.get_or_init(|| {
        spec::b64_decode(b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").expect("base64")
    })
}

/// The secret of an access key id the server must accept now.
pub fn valid_secret(key_id: &str) -> Option<&'static [u8]> {
    if key_id == AKIA {
        return Some(akia_secret());
    }
    server::valid_secret(key_id)
}

pub fn key_store() -> InMemoryKeys {
    server::key_store().with_key(AKIA.parse().unwrap(), server::secret(akia_secret()))
}

// ---------------------------------------------------------------- the scheme's settings

/// The SigV4 settings of the input's first line.
#[derive(Debug, Clone)]
pub struct Opts {
    pub service: String,
    pub regions: Vec<String>,
    pub mode: UriMode,
    pub skew: u64,
    pub allow_unsigned: bool,
    pub allow_presigned: bool,
    pub allow_repeated_reads: bool,
    pub explain: bool,
}

/// SigV4's default clock skew: 15 minutes.
pub const SKEW: u64 = 900;

impl Opts {
    pub fn of(first_line: &[u8], config: &Config) -> Self {
        let mut opts = Self {
            service: "s3".into(),
            regions: Vec::new(),
            mode: UriMode::S3,
            skew: if config.lenient_clock {
                server::LENIENT_SKEW
            } else {
                SKEW
            },
            allow_unsigned: true,
            allow_presigned: true,
            allow_repeated_reads: false,
            explain: false,
        };
        for word in script::words(first_line) {
            let (key, value) = script::split_once(word, b"=").unwrap_or((word, b""));
            let name = || String::from_utf8_lossy(value).into_owned();
            match key {
                b"service" => opts.service = name(),
                b"region" => opts.regions.push(name()),
                b"signed-only" => opts.allow_unsigned = false,
                b"no-presigned" => opts.allow_presigned = false,
                b"repeated-reads" => opts.allow_repeated_reads = true,
                b"explain" => opts.explain = true,
                _ => {}
            }
        }
        if opts.regions.is_empty() {
            opts.regions.push("us-east-1".into());
        }
        if opts.service != "s3" {
            opts.mode = UriMode::Normalized;
        }
        opts
    }

    pub fn scheme(&self) -> SigV4 {
        let mut scheme = SigV4::new(&self.service)
            .allow_presigned_urls(self.allow_presigned)
            .allow_unsigned_payload(self.allow_unsigned)
            .allow_repeated_reads(self.allow_repeated_reads)
            .max_clock_skew(std::time::Duration::from_secs(self.skew));
        for region in &self.regions {
            scheme = scheme.region(region);
        }
        scheme
    }

    pub fn app(&self, config: Config) -> App {
        let scheme = self.scheme();
        let explain = self.explain;
        App::with(config, key_store(), move |layer| {
            layer.scheme(scheme).explain_refusals(explain)
        })
    }
}

/// The codes SigV4 adds, with their statuses.
pub const CODES: [(&str, u16); 7] = [
    ("invalid_credential_scope", 401),
    ("unsupported_signature_version", 401),
    ("unsigned_payload_not_allowed", 401),
    ("presigned_url_not_allowed", 401),
    ("checksum_mismatch", 400),
    ("unsupported_checksum", 400),
    ("decoded_length_mismatch", 400),
];

// ---------------------------------------------------------------- the signer

/// How `x-amz-content-sha256` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadChoice {
    Hex,
    HexUpper,
    Wrong,
    Unsigned,
    None,
    Streaming(Stream),
}

/// What `x-fuzz-sign` says.
#[derive(Debug, Clone)]
pub struct Sign {
    pub key_id: String,
    pub secret: &'static [u8],
    pub offset: i64,
    pub presigned: bool,
    pub payload: PayloadChoice,
    pub expires: u64,
    pub region: String,
    pub service: String,
    pub date: Option<String>,
    /// `X-Amz-Date` as written, instead of the time's.
    pub amz: Option<String>,
    pub headers: Option<Vec<String>>,
    pub checksum: Option<Checksum>,
    pub trailer: Option<Checksum>,
    /// `None`: no `x-amz-decoded-content-length`; `Some(None)`: the true one.
    pub length: Option<Option<u64>>,
    pub uppercase: bool,
    pub compact: bool,
    pub lower: bool,
    pub reading: Reading,
}

fn algorithm(name: &[u8]) -> Option<Checksum> {
    Checksum::of_sdk_name(name)
}

impl Sign {
    pub fn of(value: &[u8]) -> Self {
        let mut sign = Self {
            key_id: "7".into(),
            secret: server::SECRET_7,
            offset: 0,
            presigned: false,
            payload: PayloadChoice::Hex,
            expires: 300,
            region: "us-east-1".into(),
            service: "s3".into(),
            date: None,
            amz: None,
            headers: None,
            checksum: None,
            trailer: None,
            length: Some(None),
            uppercase: false,
            compact: false,
            lower: false,
            reading: Reading::AwsSigv4,
        };
        let mut payload_set = false;
        for word in script::words(value) {
            let (k, v) = script::split_once(word, b"=").unwrap_or((word, b""));
            let text = || String::from_utf8_lossy(v).into_owned();
            match k {
                b"key" => {
                    let (id, secret): (&str, &'static [u8]) = match v {
                        b"client-1" => (server::CLIENT_1, server::SECRET_CLIENT_1),
                        b"8" => ("8", server::SECRET_8),
                        b"long" => (server::LONG_ID, server::SECRET_LONG),
                        b"akia" => (AKIA, akia_secret()),
                        b"wrong" => ("7", server::SECRET_8),
                        b"unknown" => ("9", server::SECRET_8),
                        b"old" => ("old", server::SECRET_OLD),
                        b"new" => ("new", server::SECRET_NEW),
                        _ => ("7", server::SECRET_7),
                    };
                    sign.key_id = id.into();
                    sign.secret = secret;
                }
                b"t" => sign.offset = script::number(v).unwrap_or(0).clamp(-(1 << 40), 1 << 40),
                b"mode" => sign.presigned = v == b"presigned",
                b"payload" => {
                    payload_set = true;
                    sign.payload = match v {
                        b"HEX" => PayloadChoice::HexUpper,
                        b"wrong" => PayloadChoice::Wrong,
                        b"unsigned" => PayloadChoice::Unsigned,
                        b"none" => PayloadChoice::None,
                        b"signed" => PayloadChoice::Streaming(Stream::Signed),
                        b"signed-trailer" => PayloadChoice::Streaming(Stream::SignedTrailer),
                        b"unsigned-trailer" => PayloadChoice::Streaming(Stream::UnsignedTrailer),
                        _ => PayloadChoice::Hex,
                    }
                }
                b"expires" => {
                    sign.expires = script::number(v).unwrap_or(300).clamp(0, 1 << 40) as u64
                }
                b"region" => sign.region = text(),
                b"service" => sign.service = text(),
                b"date" => sign.date = Some(text()),
                b"amz" => sign.amz = Some(text()),
                b"headers" => {
                    sign.headers = Some(
                        v.split(|&b| b == b',')
                            .map(|n| String::from_utf8_lossy(n).into_owned())
                            .collect(),
                    )
                }
                b"checksum" => sign.checksum = algorithm(v),
                b"trailer" => sign.trailer = algorithm(v),
                b"length" => {
                    sign.length = match v {
                        b"no" => None,
                        n => Some(script::number(n).map(|n| n.max(0) as u64)),
                    }
                }
                b"upper" => sign.uppercase = true,
                b"compact" => sign.compact = true,
                b"lower" => sign.lower = true,
                b"botocore" => sign.reading = Reading::Botocore,
                _ => {}
            }
        }
        if sign.presigned && !payload_set {
            sign.payload = PayloadChoice::None;
        }
        if matches!(
            sign.payload,
            PayloadChoice::Streaming(Stream::SignedTrailer | Stream::UnsignedTrailer)
        ) && sign.trailer.is_none()
        {
            sign.trailer = Some(Checksum::Crc32);
        }
        sign
    }
}

/// The request as the oracle reads it, from its parts.
pub struct Owned {
    pub method: Vec<u8>,
    pub path: Vec<u8>,
    pub query: Vec<u8>,
    pub authority: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Owned {
    pub fn of(method: &http::Method, uri: &Uri, headers: &HeaderMap) -> Self {
        Self {
            method: method.as_str().as_bytes().to_vec(),
            path: uri.path().as_bytes().to_vec(),
            query: uri.query().unwrap_or("").as_bytes().to_vec(),
            authority: uri.authority().map(|a| a.as_str().as_bytes().to_vec()),
            headers: headers
                .iter()
                .map(|(n, v)| (n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    pub fn view(&self) -> v4::Request<'_> {
        v4::Request {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            authority: self.authority.as_deref(),
            headers: &self.headers,
        }
    }
}

fn set(headers: &mut HeaderMap, name: &str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
    }
}

/// Signs `parts` (whose body's data is `data`) as `sign` says, at Unix
/// time `now`; the key of its chunks, for an aws-chunked body.
pub fn sign_request(
    parts: &mut http::request::Parts,
    data: &[u8],
    sign: &Sign,
    now: u64,
) -> Option<ChunkKey> {
    let amz = match sign.amz.as_deref() {
        // Now, but second 60 (a leap second, in ISO 8601's reading).
        Some("leap") => format!("{}60Z", &v4::amz_date(now)[..13]),
        Some(text) => text.to_string(),
        None => v4::amz_date(now),
    };
    if amz.len() < 8 || !amz.is_char_boundary(8) {
        return None;
    }
    let date = sign.date.clone().unwrap_or_else(|| amz[..8].to_string());
    let headers = &mut parts.headers;
    if !sign.presigned {
        set(headers, "x-amz-date", &amz);
    }
    match sign.payload {
        PayloadChoice::Hex => set(
            headers,
            "x-amz-content-sha256",
            &spec::hex(&spec::sha256(data)),
        ),
        PayloadChoice::HexUpper => set(
            headers,
            "x-amz-content-sha256",
            &spec::hex(&spec::sha256(data)).to_ascii_uppercase(),
        ),
        PayloadChoice::Wrong => {
            let mut other = data.to_vec();
            other.push(b'!');
            set(
                headers,
                "x-amz-content-sha256",
                &spec::hex(&spec::sha256(&other)),
            );
        }
        PayloadChoice::Unsigned => set(headers, "x-amz-content-sha256", v4::UNSIGNED_PAYLOAD),
        PayloadChoice::None => {
            headers.remove("x-amz-content-sha256");
        }
        PayloadChoice::Streaming(stream) => {
            set(headers, "x-amz-content-sha256", stream.literal());
            if !headers.contains_key("content-encoding") {
                set(headers, "content-encoding", "aws-chunked");
            }
            if let Some(length) = sign.length {
                let n = length.unwrap_or(data.len() as u64);
                set(headers, "x-amz-decoded-content-length", &n.to_string());
            }
            if let (Some(trailer), Stream::SignedTrailer | Stream::UnsignedTrailer) =
                (sign.trailer, stream)
            {
                set(headers, "x-amz-trailer", trailer.header());
            }
        }
    }
    if let Some(checksum) = sign.checksum {
        set(headers, checksum.header(), &checksum.value(data));
    }
    let signed: Vec<String> = match &sign.headers {
        Some(names) => names.clone(),
        None => {
            let mut names: Vec<String> = headers
                .keys()
                .map(|n| n.as_str().to_string())
                .filter(|n| {
                    n != "authorization"
                        && n != "transfer-encoding"
                        && (!sign.presigned || n.starts_with("x-amz-"))
                })
                .chain(["host".to_string()])
                .collect();
            names.sort();
            names.dedup();
            names
        }
    };
    let signed = signed.join(";");
    let credential = format!(
        "{}/{}/{}/{}/aws4_request",
        sign.key_id, date, sign.region, sign.service
    );
    if sign.presigned {
        let enc = |t: &str| {
            let mut out = Vec::new();
            v4::uri_encode(t.as_bytes(), &mut out);
            String::from_utf8(out).unwrap()
        };
        let mut query = parts.uri.query().unwrap_or("").to_string();
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!(
            "X-Amz-Algorithm={}&X-Amz-Credential={}&X-Amz-Date={amz}&X-Amz-Expires={}&X-Amz-SignedHeaders={}",
            v4::ALGORITHM,
            enc(&credential),
            sign.expires,
            enc(&signed)
        ));
        let target = format!("{}?{query}", parts.uri.path());
        let Ok(uri) = Uri::try_from(target) else {
            return None;
        };
        parts.uri = uri;
    }
    let owned = Owned::of(&parts.method, &parts.uri, &parts.headers);
    let line = match parts.headers.get("x-amz-content-sha256") {
        Some(v) => v.as_bytes().to_vec(),
        None if sign.presigned => v4::UNSIGNED_PAYLOAD.as_bytes().to_vec(),
        None => spec::hex(&spec::sha256(data)).into_bytes(),
    };
    let signing = v4::Signing {
        secret: sign.secret,
        amz_date: &amz,
        date: &date,
        region: &sign.region,
        service: &sign.service,
        signed_headers: &signed,
        mode: if sign.service == "s3" {
            UriMode::S3
        } else {
            UriMode::Normalized
        },
        presigned: sign.presigned,
    };
    let signature = signing.signature(&owned.view(), sign.reading, &line);
    if sign.presigned {
        let target = format!(
            "{}?{}&X-Amz-Signature={}",
            parts.uri.path(),
            parts.uri.query().unwrap_or(""),
            spec::hex(&signature)
        );
        parts.uri = Uri::try_from(target).ok()?;
    } else {
        let word = if sign.lower {
            "aws4-hmac-sha256"
        } else {
            v4::ALGORITHM
        };
        let sep = if sign.compact { "," } else { ", " };
        let value = format!(
            "{word} Credential={credential}{sep}SignedHeaders={signed}{sep}Signature={}",
            spec::hex(&signature)
        );
        set(&mut parts.headers, "authorization", &value);
    }
    Some(ChunkKey {
        key: signing.key(),
        amz_date: amz.clone(),
        scope: signing.scope(),
        seed: signature,
    })
}

/// Builds the request a script entry describes, signed as it says, then
/// changed as `x-fuzz-after` says.
pub fn build(text: &Text) -> Wire {
    let options = BodyOptions::of(&text.body_options);
    let (mut parts, ()) = script::head(text).into_parts();
    let mut pieces = script::cut(&text.body, &options.frames);
    if let Some(value) = &text.sign {
        let sign = Sign::of(value);
        let now = server::unix_now().saturating_add_signed(sign.offset);
        if let Some(key) = sign_request(&mut parts, &text.body, &sign, now) {
            if let PayloadChoice::Streaming(stream) = sign.payload {
                let chunks: Vec<&[u8]> = pieces.iter().map(|p| &p[..]).collect();
                let trailer = sign
                    .trailer
                    .map(|t| (t.header(), t.value(&text.body)))
                    .filter(|_| stream != Stream::Signed);
                let wire = v4::encode(
                    stream,
                    &key,
                    &chunks,
                    trailer.as_ref().map(|(n, v)| (*n, v.as_str())),
                    sign.uppercase,
                );
                let cuts = options.wire_cuts.clone().unwrap_or(options.frames.clone());
                pieces = script::cut(&wire, &cuts);
            }
        }
    }
    script::finish(parts, pieces, &options, &text.after)
}

/// The replay token of a request: its signature, in lower-case hex.
fn token(wire: &Wire) -> Option<String> {
    let owned = Owned::of(&wire.method, &wire.uri, &wire.headers);
    let view = owned.view();
    match view.lines("authorization").as_slice() {
        [line] => v4::parse_authorization(line).map(|c| c.signature_hex),
        [] => v4::parse_presigned(&view).map(|p| p.credentials.signature_hex),
        _ => None,
    }
}

/// Runs a whole script against a fresh app, checking every exchange.
pub fn run(data: &[u8]) -> Vec<Exchange> {
    let script = script::parse(data);
    let opts = Opts::of(&script.first_line, &script.config);
    let app = opts.app(script.config);
    let mut accepted = Vec::new();
    let mut sent: Vec<String> = Vec::new();
    let mut previous: Option<Wire> = None;
    let mut exchanges = Vec::new();
    for text in &script.requests {
        let handler = script::handler(text);
        let wire = match (&previous, text.replay) {
            (Some(previous), true) => previous.clone(),
            _ => build(text),
        };
        let token = token(&wire);
        let fresh = token.as_ref().is_none_or(|t| !sent.contains(t));
        let exchange = server::send(&app, &wire, handler);
        check(&app, &opts, &wire, handler, &exchange, fresh, &mut accepted);
        sent.extend(token);
        previous = Some(wire);
        exchanges.push(exchange);
    }
    exchanges
}

// ---------------------------------------------------------------- the judge

/// How the body is covered, as `x-amz-content-sha256` (or its absence) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A SHA-256, and the line as sent.
    Declared([u8; 32], Vec<u8>),
    /// No such field, header auth: the line is the body's SHA-256.
    Computed,
    /// `UNSIGNED-PAYLOAD` (or a presigned URL without the field).
    Unsigned,
    Streaming(Stream),
    /// Repeated, or neither a SHA-256 nor a known mode.
    Invalid,
}

/// What the oracle makes of a request's head: credentials that name a key
/// valid now, for the scheme's scope, with a date that parses.
#[derive(Debug, Clone)]
pub struct Head {
    pub credentials: v4::Credentials,
    pub secret: &'static [u8],
    pub amz_date: String,
    pub presigned: bool,
    pub signed_at: u64,
    pub until: u64,
    /// In AWS's layout, nothing read leniently.
    pub strict: bool,
    /// Within the clock window at some instant / at every instant of the exchange.
    pub timely_loose: bool,
    pub timely_strict: bool,
    /// `host`, every `x-amz-*` field and the required ones signed; `Host`
    /// and the authority agree.
    pub well_formed: bool,
    pub payload: Payload,
    /// The body's rules, or `None` when the head breaks one (an unknown
    /// checksum, `x-amz-trailer` without a trailer mode, …).
    pub rules: Option<v4::Rules>,
}

impl Head {
    pub fn signing<'a>(&'a self, opts: &Opts) -> v4::Signing<'a> {
        v4::Signing {
            secret: self.secret,
            amz_date: &self.amz_date,
            date: &self.credentials.date,
            region: &self.credentials.region,
            service: &self.credentials.service,
            signed_headers: &self.credentials.signed_headers,
            mode: opts.mode,
            presigned: self.presigned,
        }
    }

    pub fn signs(&self, request: &v4::Request<'_>, opts: &Opts, line: &[u8]) -> bool {
        self.signing(opts)
            .signs(request, line, &self.credentials.signature)
    }

    /// The line the head fixes, when it fixes one.
    pub fn line(&self, request: &v4::Request<'_>) -> Option<Vec<u8>> {
        match request.lines("x-amz-content-sha256").as_slice() {
            [line] => Some(line.to_vec()),
            _ if self.presigned => Some(v4::UNSIGNED_PAYLOAD.as_bytes().to_vec()),
            _ => None,
        }
    }

    /// Signed over some body: its own line, or the hash of one of `bodies`.
    pub fn genuine(&self, request: &v4::Request<'_>, opts: &Opts, bodies: &[&[u8]]) -> bool {
        let mut lines: Vec<Vec<u8>> = bodies
            .iter()
            .map(|b| spec::hex(&spec::sha256(b)).into_bytes())
            .collect();
        lines.push(v4::EMPTY_SHA256.as_bytes().to_vec());
        lines.extend(self.line(request));
        lines.iter().any(|l| self.signs(request, opts, l))
    }
}

fn one<'a>(request: &v4::Request<'a>, name: &str) -> Option<&'a [u8]> {
    let lines: Vec<&[u8]> = request
        .headers
        .iter()
        .filter(|(n, _)| n == name.as_bytes())
        .map(|(_, v)| v.as_slice())
        .collect();
    match lines.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// The body's rules a head sets, as the module docs list them; `None` if
/// the head breaks one.
fn rules(request: &v4::Request<'_>, payload: &Payload) -> Option<(v4::Rules, bool)> {
    let mut strict = true;
    let mut rules = v4::Rules::default();
    match request.lines("x-amz-sdk-checksum-algorithm").as_slice() {
        [] => {}
        [name] => {
            Checksum::of_sdk_name(name)?;
        }
        _ => return None,
    }
    for (name, value) in request.headers {
        if let Some(c) = Checksum::of_header(name) {
            if rules.header_checksum.is_some() || !c.well_formed(value) {
                return None;
            }
            rules.header_checksum = Some((c, value.clone()));
        }
    }
    let trailer_mode = matches!(
        payload,
        Payload::Streaming(Stream::SignedTrailer | Stream::UnsignedTrailer)
    );
    match request.lines("x-amz-trailer").as_slice() {
        [] if *payload == Payload::Streaming(Stream::UnsignedTrailer) => return None,
        [] => {}
        [name] if trailer_mode => rules.trailer = Some(Checksum::of_header(name)?),
        _ => return None,
    }
    if matches!(payload, Payload::Streaming(_)) {
        match request.lines("x-amz-decoded-content-length").as_slice() {
            [] => {}
            [n] => {
                let ok = !n.is_empty() && n.len() <= 19 && n.iter().all(u8::is_ascii_digit);
                if !ok {
                    return None;
                }
                strict &= n.len() == 1 || n[0] != b'0';
                rules.decoded_length = Some(std::str::from_utf8(n).ok()?.parse().ok()?);
            }
            _ => return None,
        }
    }
    Some((rules, strict))
}

/// The head, if it is one the server may accept: SigV4 credentials (in
/// `Authorization`, or a presigned query), a key valid now, the scheme's
/// scope, a date that parses.
pub fn judge_head(
    request: &v4::Request<'_>,
    opts: &Opts,
    config: &Config,
    before: u64,
    after: u64,
) -> Option<Head> {
    let auth = request.lines("authorization");
    let (credentials, amz_date, presigned, expires, mut strict) = match auth.as_slice() {
        [line] => {
            let c = v4::parse_authorization(line)?;
            let date = one(request, "x-amz-date")?;
            let date = std::str::from_utf8(date).ok()?.to_string();
            let strict = c.strict;
            (c, date, false, 0, strict)
        }
        [] if opts.allow_presigned && v4::is_presigned(request) => {
            let p = v4::parse_presigned(request)?;
            let strict = p.credentials.strict;
            (p.credentials, p.amz_date, true, p.expires, strict)
        }
        _ => return None,
    };
    let secret = valid_secret(&credentials.key_id)?;
    // Second 60 is read as 59, as `humantime`'s RFC 3339 parser reads a
    // leap second (the crate's since da018fd); AWS's layout has 00 to 59.
    let (signed_at, leap) = match v4::parse_amz_date(amz_date.as_bytes()) {
        Some(t) => (t, false),
        None if amz_date.len() == 16 && amz_date.ends_with("60Z") => {
            let text = format!("{}59Z", &amz_date[..13]);
            (v4::parse_amz_date(text.as_bytes())?, true)
        }
        None => return None,
    };
    strict &= !leap;
    let scope_ok = amz_date.as_bytes()[..8] == *credentials.date.as_bytes()
        && credentials.service == opts.service
        && opts.regions.iter().any(|r| *r == credentials.region);
    if !scope_ok {
        return None;
    }
    let skew = opts.skew;
    let until = signed_at.saturating_add(expires);
    let (timely_loose, timely_strict) = if presigned {
        (
            after.saturating_add(skew) >= signed_at && before <= until,
            before.saturating_add(skew) >= signed_at.saturating_add(2)
                && after.saturating_add(2) <= until,
        )
    } else {
        (
            signed_at.saturating_add(skew) >= before && signed_at <= after.saturating_add(skew),
            signed_at.saturating_add(skew) >= after.saturating_add(2)
                && signed_at.saturating_add(2) <= before.saturating_add(skew),
        )
    };
    let signs = |name: &str| credentials.signed_headers.split(';').any(|n| n == name);
    let host_agrees = match (request.authority, request.lines("host").first()) {
        (Some(authority), Some(host)) => v4::host_of(authority).eq_ignore_ascii_case(host),
        _ => true,
    };
    // Authority form (`GET host:port`, the only target with an empty path)
    // is CONNECT's alone (PROTOCOL §6.1 step 3).
    let target_form_ok =
        !(request.path.is_empty() && request.authority.is_some()) || request.method == b"CONNECT";
    let well_formed = signs("host")
        && host_agrees
        && target_form_ok
        && (!config.require_content_type || signs("content-type"))
        && request
            .headers
            .iter()
            .all(|(n, _)| !n.starts_with(b"x-amz-") || signs(std::str::from_utf8(n).unwrap()));
    let payload = match request.lines("x-amz-content-sha256").as_slice() {
        [] if presigned => Payload::Unsigned,
        [] => Payload::Computed,
        [line] => match *line {
            b"UNSIGNED-PAYLOAD" => Payload::Unsigned,
            b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => Payload::Streaming(Stream::Signed),
            b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => {
                Payload::Streaming(Stream::SignedTrailer)
            }
            b"STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Payload::Streaming(Stream::UnsignedTrailer),
            hex => match v4::unhex(hex, 32) {
                Some(d) => Payload::Declared(d.try_into().unwrap(), hex.to_vec()),
                None => Payload::Invalid,
            },
        },
        _ => Payload::Invalid,
    };
    let rules = rules(request, &payload).map(|(rules, s)| {
        strict &= s;
        rules
    });
    Some(Head {
        credentials,
        secret,
        amz_date,
        presigned,
        signed_at,
        until,
        strict,
        timely_loose,
        timely_strict,
        well_formed,
        payload,
        rules,
    })
}

/// Whether the request, whose body the server judged to be `body` (the
/// wire data as received; decoded by [`v4::decode`] for aws-chunked),
/// is signed and honest: the signature over the right line, the declared
/// digest, the chunk chain, the checksums. `Some(data)` with the data the
/// handler must read, if so.
pub fn body_valid(
    head: &Head,
    request: &v4::Request<'_>,
    opts: &Opts,
    bodiless: bool,
    body: &[u8],
) -> Option<Vec<u8>> {
    let rules = head.rules.as_ref()?;
    let checksum_ok = |data: &[u8]| {
        rules
            .header_checksum
            .as_ref()
            .is_none_or(|(c, v)| c.matches(v, data))
    };
    let body: &[u8] = if bodiless { b"" } else { body };
    match &head.payload {
        Payload::Invalid => None,
        Payload::Declared(d, line) => {
            (head.signs(request, opts, line) && spec::sha256(body) == *d && checksum_ok(body))
                .then(|| body.to_vec())
        }
        Payload::Computed => {
            let line = spec::hex(&spec::sha256(body));
            (head.signs(request, opts, line.as_bytes()) && checksum_ok(body)).then(|| body.to_vec())
        }
        Payload::Unsigned => {
            let line = head.line(request)?;
            (head.signs(request, opts, &line)
                && (bodiless || opts.allow_unsigned)
                && checksum_ok(body))
            .then(|| body.to_vec())
        }
        Payload::Streaming(stream) => {
            let line = head.line(request)?;
            if bodiless
                || !head.signs(request, opts, &line)
                || !(stream.signed() || opts.allow_unsigned)
            {
                return None;
            }
            let key = chunk_key(head, request, opts, &line);
            let decoded = v4::decode(*stream, stream.signed().then_some(&key), rules, body);
            (decoded.verdict == v4::Verdict::Complete).then_some(decoded.data)
        }
    }
}

/// The key of the chunks of a head signed over `line`.
pub fn chunk_key(head: &Head, request: &v4::Request<'_>, opts: &Opts, line: &[u8]) -> ChunkKey {
    let signing = head.signing(opts);
    let reading = v4::readings(request, signing.signed_headers, opts.mode)
        .into_iter()
        .find(|r| signing.signature(request, *r, line) == head.credentials.signature)
        .unwrap_or(Reading::AwsSigv4);
    ChunkKey {
        key: signing.key(),
        amz_date: head.amz_date.clone(),
        scope: signing.scope(),
        seed: signing.signature(request, reading, line),
    }
}

/// Every property of one exchange. `accepted` holds the (key, signature)
/// pairs of header auth accepted so far.
pub fn check(
    app: &App,
    opts: &Opts,
    wire: &Wire,
    handler: Handler,
    exchange: &Exchange,
    fresh: bool,
    accepted: &mut Vec<(String, String)>,
) {
    let config = &app.config;
    let owned = Owned::of(&wire.method, &wire.uri, &wire.headers);
    let request = owned.view();
    let status = exchange.status;
    let what = || {
        format!(
            "{status} {:?} for {wire:?} with {handler:?}: {exchange:?}",
            exchange.code()
        )
    };

    let [hooked] = exchange.hooked.as_slice() else {
        panic!(
            "the outcome hook was called {} times: {}",
            exchange.hooked.len(),
            what()
        );
    };
    assert!(!status.is_server_error(), "a 5xx: {}", what());
    if exchange.from_handler {
        assert!(exchange.record.called, "{}", what());
    } else {
        server::check_problem_of(exchange, &what, &CODES, opts.explain);
    }

    let head = judge_head(&request, opts, config, exchange.before, exchange.after);
    let data = wire.data();
    let record = &exchange.record;
    let bodiless = wire.looks_bodiless();

    if opts.explain && !exchange.from_handler {
        check_explanation(exchange, head.as_ref(), &request, opts, &data, &what);
    }

    match hooked.outcome {
        Outcome::Accepted => assert!(
            exchange.from_handler && status.is_success(),
            "Accepted for a {status}: {}",
            what()
        ),
        Outcome::UnverifiedClientError => assert!(
            exchange.from_handler && status.is_client_error(),
            "{}",
            what()
        ),
        Outcome::Rejected(code) => {
            assert!(!exchange.from_handler, "{}", what());
            assert_eq!(
                exchange.code().as_deref(),
                Some(code.as_str()),
                "{}",
                what()
            );
        }
        _ => panic!("an Outcome this harness does not know: {}", what()),
    }

    let bodies: Vec<&[u8]> = vec![&data, &record.read, b""];
    match &hooked.caller {
        HookCaller::Anonymous => {}
        HookCaller::Claimed(_) => assert_ne!(hooked.outcome, Outcome::Accepted, "{}", what()),
        HookCaller::Authenticated(id) => {
            let head = head.as_ref().unwrap_or_else(|| {
                panic!(
                    "Authenticated({id}) for a head the oracle refuses: {}",
                    what()
                )
            });
            assert_eq!(&head.credentials.key_id, id, "{}", what());
            assert!(
                head.genuine(&request, opts, &bodies),
                "Authenticated({id}) but not signed: {}",
                what()
            );
        }
    }
    if let Some(before) = &record.authenticated_before {
        assert!(
            matches!(&hooked.caller, HookCaller::Authenticated(id) if id == before),
            "authenticated_key_id() said {before}, the hook {:?}: {}",
            hooked.caller,
            what()
        );
    }

    let handler_success = exchange.from_handler && status.is_success();
    if handler_success {
        let head = head
            .as_ref()
            .unwrap_or_else(|| panic!("accepted, but the oracle refuses the head: {}", what()));
        assert!(head.timely_loose, "accepted outside its window: {}", what());
        assert!(head.well_formed, "accepted a badly formed head: {}", what());
        assert!(
            head.rules.is_some(),
            "accepted a head that breaks a body rule: {}",
            what()
        );
        // A body that failed was not received whole; but a bodiless one
        // (judged empty) that fails after saying so carries nothing.
        assert!(
            !wire.fails() || (bodiless && record.read.is_empty()),
            "accepted a body that failed: {}",
            what()
        );
        assert_eq!(
            record.verified.as_ref().map(|r| r.as_ref().ok().cloned()),
            Some(Some(head.credentials.key_id.clone())),
            "accepted without a verify() that succeeded: {}",
            what()
        );
        // Signed (and honest) over what the handler read: all of it when
        // it read to the end; else the body verify() read on, which the
        // handler's part begins.
        let judged: Vec<Vec<u8>> = if bodiless {
            vec![Vec::new()]
        } else {
            let mut bodies = prefixes(wire);
            bodies.insert(1, record.read.clone());
            bodies
        };
        let valid = judged.iter().any(|body| {
            body_valid(head, &request, opts, bodiless, body).is_some_and(|decoded| {
                if record.reached_end {
                    decoded == record.read
                } else {
                    decoded.starts_with(&record.read)
                }
            })
        });
        assert!(
            valid,
            "accepted, but not signed over what the handler read: {}",
            what()
        );
        if bodiless {
            assert!(
                record.read.is_empty(),
                "a bodiless request, but the handler read data: {}",
                what()
            );
        }
        if config.require_early {
            assert!(
                bodiless || head.payload != Payload::Computed,
                "accepted late with early authentication required: {}",
                what()
            );
        }
        if head.presigned {
            // Every parameter but the signature is signed: one named
            // `X-Amz-Signature` once decoded (`X-Amz-Signatur%65`, say) is
            // not, so the handler would see an unsigned one.
            let signatures = request
                .query_pairs()
                .iter()
                .filter(|(n, _)| v4::query_decode(n) == b"X-Amz-Signature")
                .count();
            assert!(
                signatures == 1 || (!F3_FIXED && f3(&request)),
                "a presigned URL accepted with an X-Amz-Signature its signature does not cover: {}",
                what()
            );
        } else if opts.allow_repeated_reads
            && bodiless
            && matches!(wire.method, http::Method::GET | http::Method::HEAD)
        {
            // A bodiless read may be repeated in its window (`allow_repeated_reads`).
        } else if !config.no_replay_protection {
            let pair = (
                head.credentials.key_id.clone(),
                head.credentials.signature_hex.clone(),
            );
            assert!(
                !accepted.contains(&pair),
                "a replay was accepted: {}",
                what()
            );
            accepted.push(pair);
        }
    }

    if exchange.from_handler && status.is_client_error() && !handler.verifies() {
        if hooked.outcome == Outcome::UnverifiedClientError {
            let head = head.as_ref().unwrap_or_else(|| {
                panic!(
                    "let a 4xx through for a head the oracle refuses: {}",
                    what()
                )
            });
            assert!(head.timely_loose && head.well_formed, "{}", what());
            assert!(
                head.genuine(&request, opts, &bodies),
                "let a forgery's 4xx through: {}",
                what()
            );
        }
    }

    // A genuine request, in AWS's layout, is accepted with exactly its data.
    if handler.verifies() && wire.honest() && !wire.fails() && fresh {
        let Some(head) = head.as_ref() else {
            return;
        };
        let timely = head.timely_strict && head.well_formed && head.strict;
        let unread_ok = config.small_unread_limit.is_none() || handler == Handler::ReadAllVerify;
        let early_ok = !config.require_early || bodiless || head.payload != Payload::Computed;
        // F3's case is not genuine: a second signature parameter is refused.
        let f3_case = F3_FIXED && f3(&request);
        if timely && unread_ok && early_ok && !f3_case && (!bodiless || data.is_empty()) {
            if let Some(expected) = body_valid(head, &request, opts, bodiless, &data) {
                assert!(handler_success, "a genuine request was refused: {}", what());
                if handler == Handler::ReadAllVerify {
                    assert!(
                        record.read == expected,
                        "the handler read {:?}, not {:?}: {}",
                        String::from_utf8_lossy(&record.read),
                        String::from_utf8_lossy(&expected),
                        what()
                    );
                }
            }
        }
    }
}

/// Finding F3 (RELIABILITY.md): a presigned URL is accepted with more
/// parameters that decode to `X-Amz-Signature` (`X-Amz-Signatur%65=…`):
/// the crate finds its credentials by the names as sent, but leaves out of
/// the canonical query every parameter whose name decodes to
/// `X-Amz-Signature`. Fixed in 8cef255: the crate now finds its
/// credentials by the decoded names (and so does `sigv4_spec`), so such a
/// query is refused as a repeated parameter, and the regression seed
/// `corpus/sigv4_authorization/finding-F3-presigned-unsigned-parameter`
/// holds it to that.
pub const F3_FIXED: bool = true;

/// The request is F3's case: one `X-Amz-Signature` as sent, and more
/// once decoded.
pub fn f3(request: &v4::Request<'_>) -> bool {
    let pairs = request.query_pairs();
    let sent = pairs
        .iter()
        .filter(|(n, _)| *n == b"X-Amz-Signature")
        .count();
    let decoded = pairs
        .iter()
        .filter(|(n, _)| v4::query_decode(n) == b"X-Amz-Signature")
        .count();
    sent == 1 && decoded > 1
}

/// The body's data, all of it, then up to each frame boundary: what the
/// server may have judged as the body (all of it, or what came before a
/// body that lies said it had ended).
fn prefixes(wire: &Wire) -> Vec<Vec<u8>> {
    let mut out = vec![wire.data()];
    let mut data = Vec::new();
    for step in &wire.steps {
        if let server::Step::Data(d) = step {
            data.extend_from_slice(d);
            if data.len() < out[0].len() {
                out.push(data.clone());
            }
        }
    }
    out
}

/// An explained refusal never shows the secret, the signing key or the
/// signature the server expected.
fn check_explanation(
    exchange: &Exchange,
    head: Option<&Head>,
    request: &v4::Request<'_>,
    opts: &Opts,
    data: &[u8],
    what: &dyn Fn() -> String,
) {
    let value: serde_json::Value = serde_json::from_slice(&exchange.body).unwrap_or_default();
    let Some(explanation) = value.get("explanation") else {
        return;
    };
    let text = explanation.to_string();
    let Some(head) = head else {
        return;
    };
    let signing = head.signing(opts);
    let mut secrets = vec![spec::b64_encode(head.secret), spec::hex(&signing.key())];
    let mut lines = vec![
        spec::hex(&spec::sha256(data)).into_bytes(),
        v4::EMPTY_SHA256.as_bytes().to_vec(),
    ];
    lines.extend(head.line(request));
    for line in &lines {
        for reading in [Reading::AwsSigv4, Reading::Botocore] {
            secrets.push(spec::hex(&signing.signature(request, reading, line)));
        }
    }
    for secret in secrets {
        assert!(
            !text.contains(&secret),
            "an explanation shows {secret}: {}",
            what()
        );
    }
}
