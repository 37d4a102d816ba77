//! d1-upload: copies verified dumps and their sidecars to R2/S3 (multipart, checksums, a
//! read-back check), and the S3 client `d1-fetch s3://` uses on the way back.

pub mod args;
pub mod crypt;
pub mod manifest;
pub mod run;
pub mod store;
pub mod upload;
