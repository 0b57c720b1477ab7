//! SigV4 against AWS's own signer (being written).
