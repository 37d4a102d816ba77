//! d1-upload: copies verified dumps and their sidecars to R2/S3 (multipart, checksums, a
//! read-back check), through d1-archive's bucket store.

pub mod args;
pub mod crypt;
pub mod manifest;
pub mod run;
