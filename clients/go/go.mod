// The Go client of tower-hmac (docs/PROTOCOL.md). Standard library only.
// Publish it under the repository's import path.
module towerhmac

go 1.19
