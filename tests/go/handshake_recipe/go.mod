// The Go HMAC challenge-response recipe, as tests/handshake_raw.rs runs it.
// Standard library only.
module handshakerecipe

go 1.19
