//! `s3://BUCKET/KEY`, split, and a prefix read as a folder.

use d1_core::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    pub key: String,
}

impl S3Url {
    /// Parses `s3://BUCKET[/KEY]`. Bucket names follow S3's rules (lowercase letters, digits,
    /// `-` and `.`), which also keeps them safe in a host name and a path.
    pub fn parse(text: &str) -> Result<S3Url> {
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| Error::usage(format!("not an s3:// URL: {text}")))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !ok {
            return Err(Error::usage(format!(
                "{text}: {bucket:?} is not a bucket name (3 to 63 lowercase letters, digits, '-', '.')"
            )));
        }
        if key.chars().any(char::is_control) {
            return Err(Error::usage(format!(
                "{text}: control character in the key"
            )));
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The key read as a folder: empty or ending in `/` (`s3://b/p` and `s3://b/p/` are the same
    /// prefix).
    pub fn prefix(&self) -> String {
        let mut p = self.key.clone();
        if !p.is_empty() && !p.ends_with('/') {
            p.push('/');
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_into_bucket_and_key_and_bad_buckets_are_refused() {
        let u = S3Url::parse("s3://backups/d1/x.sql.zst").unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.key.as_str()),
            ("backups", "d1/x.sql.zst")
        );
        assert_eq!(S3Url::parse("s3://backups").unwrap().key, "");
        assert!(S3Url::parse("s3://Bad_Bucket/x").is_err());
        assert!(S3Url::parse("https://backups/x").is_err());
        assert!(S3Url::parse("s3://ab/x").is_err());
    }

    #[test]
    fn a_prefix_is_a_folder() {
        let u = |s: &str| S3Url::parse(s).unwrap().prefix();
        assert_eq!(u("s3://bucket/p"), "p/");
        assert_eq!(u("s3://bucket/p/"), "p/");
        assert_eq!(u("s3://bucket"), "");
        assert_eq!(u("s3://bucket/"), "");
    }
}
