//! examples/s3 against boto3 (work in progress).
