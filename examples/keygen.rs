//! Generates a strong secret and prints it with a keys-file entry.
//!
//! ```text
//! cargo run --example keygen -- [KEY_ID] [--label TEXT]
//! ```
//! The same with standard tools: `head -c 32 /dev/urandom | base64`.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use tower_hmac::KeyId;
use zeroize::Zeroizing;

fn main() {
    let mut key_id: KeyId = "1".parse().unwrap();
    let mut label = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--label" => label = args.next(),
            id if !id.starts_with("--") => {
                key_id = id.parse().unwrap_or_else(|e| {
                    eprintln!("error: {e}");
                    std::process::exit(2)
                })
            }
            _ => {
                eprintln!("usage: keygen [KEY_ID] [--label TEXT]");
                std::process::exit(2)
            }
        }
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *bytes).expect("the operating system's random source failed");
    let secret = Zeroizing::new(STANDARD.encode(*bytes));
    let mut entry = serde_json::json!({ "id": key_id.as_str(), "secret": secret.as_str() });
    if let Some(label) = label {
        entry["label"] = label.into();
    }
    println!("secret (base64, 32 random bytes): {}", secret.as_str());
    println!(
        "for the client:                   --key {key_id}={}",
        secret.as_str()
    );
    println!("for the server's keys file:       {entry}");
}
