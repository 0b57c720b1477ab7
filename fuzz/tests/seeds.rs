//! The committed seeds do what they are there for, and the independent
//! implementation agrees with the test vectors: `cargo test` in `fuzz/`.

use std::path::Path;

use tower_hmac_fuzz::{script, spec};

fn seed(target: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
        .join(format!("seed-{name}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs a server seed; the status and code of each request.
fn statuses(data: &[u8]) -> Vec<(u16, Option<String>)> {
    script::run(data)
        .iter()
        .map(|e| (e.status.as_u16(), e.code()))
        .collect()
}

#[test]
fn every_vector_is_accepted_as_a_request() {
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/vectors.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for vector in vectors.as_array().unwrap() {
        let name = vector["name"].as_str().unwrap();
        assert_eq!(statuses(&seed("server", name)), [(200, None)], "{name}");
        // And the oracle parses its header.
        assert!(
            spec::parse_authorization(vector["authorization"].as_str().unwrap().as_bytes())
                .is_some()
        );
    }
    for name in ["chunked-three", "chunked-empty"] {
        assert_eq!(statuses(&seed("server", name)), [(200, None)], "{name}");
    }
}

#[test]
fn signed_seeds() {
    assert_eq!(statuses(&seed("server", "signed-post")), [(200, None)]);
    assert_eq!(
        statuses(&seed("server", "signed-v1-then-replayed")),
        [(200, None), (401, Some("replayed_request".into()))]
    );
    assert_eq!(statuses(&seed("server", "signed-chunks")), [(200, None)]);
    assert_eq!(
        statuses(&seed("server", "signed-get-tampered")),
        [(401, Some("invalid_signature".into()))]
    );
    assert_eq!(
        statuses(&seed("server", "refused-by-handler")),
        [(409, None), (401, Some("unsigned_header".into()))]
    );
    assert_eq!(
        statuses(&seed("server", "unsigned")),
        [(401, Some("missing_authorization".into()))]
    );
}
