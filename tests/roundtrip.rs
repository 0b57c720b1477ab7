//! Sign-then-verify over many random requests on a real connection: each
//! passes untouched, and every single change to it is refused.

mod support;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use bytes::Bytes;
use http::{header, HeaderName, HeaderValue, Method, Request};
use support::{
    app::{app, Observed},
    request, Client, Framing, Proto,
};
use tower_hmac::{BodyDigest, Nonce, Signer};

/// xorshift64*: deterministic, so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn text(&mut self, alphabet: &[&str], max: usize) -> String {
        (0..1 + self.below(max))
            .map(|_| *self.pick(alphabet))
            .collect()
    }
}

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];
const PATH: &[&str] = &[
    "a", "b", "Z", "0", "-", ".", "_", "~", "%20", "%2F", "%41", "!", "$", "'", "(", "*", "+", ",",
    ";", "=", ":", "@", "/",
];
const QUERY: &[&str] = &["a", "b", "1", "=", "&", "%20", "+", "/", "?", "%3D", "-"];
const EXTRA: &str = "x-extra";

fn signer() -> Signer {
    support::signer().sign_header(HeaderName::from_static(EXTRA))
}

fn random_request(rng: &mut Rng, proto: Proto, addr: std::net::SocketAddr) -> Request<Bytes> {
    let method = rng.pick(&METHODS).clone();
    let mut target = format!("/any/{}", rng.text(PATH, 12));
    if rng.below(3) > 0 {
        target += &format!("?{}", rng.text(QUERY, 16));
    }
    let body: Bytes = if method == Method::GET {
        Bytes::new()
    } else {
        (0..rng.below(3000)).map(|_| rng.next() as u8).collect()
    };
    let mut request = request(proto, addr, method, &target, body.clone());
    if rng.below(2) == 0 {
        let ty = rng.pick(&[
            "application/json",
            "text/plain; charset=utf-8",
            "application/octet-stream",
        ]);
        request
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
    }
    if rng.below(2) == 0 {
        request
            .headers_mut()
            .insert(EXTRA, HeaderValue::from_str(&rng.text(QUERY, 8)).unwrap());
    }
    sign(&mut request);
    request
}

/// Signs `request` over its own body, now, with a fresh nonce.
fn sign(request: &mut Request<Bytes>) {
    let digest = BodyDigest::of(request.body());
    signer()
        .sign_at(request, &digest, support::now(), Nonce::random())
        .unwrap();
}

fn authorization(request: &Request<Bytes>) -> String {
    request.headers()[header::AUTHORIZATION]
        .to_str()
        .unwrap()
        .to_owned()
}

fn param<'a>(auth: &'a str, name: &str) -> &'a str {
    let start = auth.find(&format!("{name}=")).unwrap() + name.len() + 1;
    auth[start..].split(',').next().unwrap()
}

fn with_authorization(request: &Request<Bytes>, auth: String) -> Request<Bytes> {
    let mut request = request.clone();
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, HeaderValue::from_str(&auth).unwrap());
    request
}

/// Every single-point change to `original`, each named.
fn mutations(original: &Request<Bytes>, rng: &mut Rng) -> Vec<(&'static str, Request<Bytes>)> {
    let mut out = Vec::new();
    let auth = authorization(original);

    let mut r = original.clone();
    *r.method_mut() = if r.method() == Method::PUT {
        Method::POST
    } else {
        Method::PUT
    };
    if r.method() == Method::POST || !r.body().is_empty() {
        out.push(("method", r));
    }

    let mut r = original.clone();
    let uri = r.uri().to_string();
    let path_end = uri.find('?').unwrap_or(uri.len());
    *r.uri_mut() = format!("{}x{}", &uri[..path_end], &uri[path_end..])
        .parse()
        .unwrap();
    out.push(("path", r));

    let mut r = original.clone();
    let uri = r.uri().to_string();
    *r.uri_mut() = if uri.contains('?') {
        format!("{uri}z")
    } else {
        format!("{uri}?z")
    }
    .parse()
    .unwrap();
    out.push(("query", r));

    let mut r = original.clone();
    let value = r
        .headers()
        .get(EXTRA)
        .map_or(String::new(), |v| v.to_str().unwrap().to_owned());
    r.headers_mut()
        .insert(EXTRA, HeaderValue::from_str(&format!("{value}q")).unwrap());
    out.push(("signed header", r));

    out.push((
        "Key",
        with_authorization(original, auth.replace("Key=7,", "Key=8,")),
    ));
    let time: u64 = param(&auth, "Time").parse().unwrap();
    let delta = if rng.below(2) == 0 {
        time + 1
    } else {
        time - 1
    };
    out.push((
        "Time",
        with_authorization(
            original,
            auth.replace(&format!("Time={time}"), &format!("Time={delta}")),
        ),
    ));
    let nonce = param(&auth, "Nonce");
    let first = if nonce.starts_with('A') { "B" } else { "A" };
    let changed = format!("{first}{}", &nonce[1..]);
    out.push((
        "Nonce",
        with_authorization(original, auth.replace(nonce, &changed)),
    ));
    let names = param(&auth, "SignedHeaders");
    let fewer = names.replace(";x-extra", "");
    out.push((
        "SignedHeaders",
        with_authorization(
            original,
            auth.replace(
                &format!("SignedHeaders={names}"),
                &format!("SignedHeaders={fewer}"),
            ),
        ),
    ));
    let signature = param(&auth, "Signature");
    let mut raw = STANDARD.decode(signature).unwrap();
    let bit = rng.below(256);
    raw[bit / 8] ^= 1 << (bit % 8);
    out.push((
        "Signature",
        with_authorization(original, auth.replace(signature, &STANDARD.encode(raw))),
    ));

    if original.method() != Method::GET {
        let mut r = original.clone();
        let mut body = r.body().to_vec();
        if body.is_empty() {
            body.push(0);
        } else {
            let i = rng.below(body.len());
            body[i] ^= 1 << rng.below(8);
        }
        *r.body_mut() = body.into();
        out.push(("body byte", r));

        if !original.body().is_empty() {
            let mut r = original.clone();
            let len = r.body().len();
            *r.body_mut() = r.body().slice(..len - 1);
            out.push(("body truncated", r));
        }
    }
    out
}

async fn round_trips(proto: Proto, seed: u64, count: usize) {
    let observed = Observed::default();
    let addr = support::serve(app(observed.clone())).await;
    let mut client = Client::connect(addr, proto).await;
    let mut rng = Rng(seed);
    let mut refused = 0;
    for i in 0..count {
        let original = random_request(&mut rng, proto, addr);
        for (what, changed) in mutations(&original, &mut rng) {
            let reply = client.send(Framing::Length, changed).await;
            assert_eq!(
                reply.status,
                401,
                "seed {seed}, request {i}: changing the {what} of {original:?} was accepted: {}",
                reply.text()
            );
            refused += 1;
        }
        // A changed body left a declared head intact: that head was
        // authenticated, and its nonce is spent. The original is signed afresh.
        let mut original = original;
        sign(&mut original);
        let reply = client.send(Framing::Length, original.clone()).await;
        assert_eq!(
            reply.status,
            200,
            "seed {seed}, request {i}: {original:?}: {}",
            reply.text()
        );
        let target = original.uri().path_and_query().unwrap().as_str();
        assert_eq!(reply.text(), format!("{} {target}", original.method()));
        let seen = observed.take();
        let last = seen.last().unwrap();
        assert_eq!(
            last.body,
            *original.body(),
            "the handler saw the body as signed"
        );
        assert_eq!(last.verify, vec![Ok("7".to_owned())]);
    }
    assert!(
        refused >= count * 8,
        "only {refused} mutations for {count} requests"
    );
}

#[tokio::test]
async fn random_requests_round_trip_over_http1_and_every_change_is_refused() {
    round_trips(Proto::H1, 0x5EED_0001, 120).await;
}

#[tokio::test]
async fn random_requests_round_trip_over_http2_and_every_change_is_refused() {
    round_trips(Proto::H2, 0x5EED_0002, 60).await;
}
