//! AWS Signature Version 4 (feature `sigv4`).

mod checksum;
mod chunked;
