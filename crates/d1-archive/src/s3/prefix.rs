//! A bucket prefix as a [`Store`]: keys under `s3://BUCKET/PREFIX/` (and, when recursive, under
//! its sub-prefixes), read a page at a time. A listing never yields a key outside the prefix,
//! whatever the server returns: nothing is ever done to such a key.

use super::client::Client;
use super::config::Options;
use super::lease;
use super::upload;
use super::url::S3Url;
use crate::store::{Entry, EntryKind, Lock, Source, Store, Written};
use d1_core::retry::{Deadline, Policy};
use d1_core::{msg, Error, Result};
use std::io::Read;
use std::sync::Arc;

/// The part size of multipart uploads unless the caller says otherwise.
pub const DEFAULT_PART_SIZE: u64 = 64 << 20;

pub struct Prefix {
    client: Arc<Client>,
    /// Empty or ending in `/`.
    prefix: String,
    recursive: bool,
    page: Option<usize>,
    part_size: u64,
}

impl Prefix {
    /// The prefix `prefix` (empty, or ending in `/`: see `S3Url::prefix`) of the client's
    /// bucket; with `recursive`, the keys below its sub-prefixes too.
    pub fn new(client: Arc<Client>, prefix: &str, recursive: bool) -> Prefix {
        Prefix {
            client,
            prefix: prefix.to_string(),
            recursive,
            page: None,
            part_size: DEFAULT_PART_SIZE,
        }
    }

    /// The prefix `url` names (as a folder: `S3Url::prefix`), with a client of its bucket
    /// configured from `opts` and the environment.
    pub fn open(
        opts: &Options,
        url: &S3Url,
        policy: Policy,
        deadline: Deadline,
        recursive: bool,
    ) -> Result<Prefix> {
        let client = Client::new(opts, &url.bucket, policy, deadline)?;
        Ok(Prefix::new(Arc::new(client), &url.prefix(), recursive))
    }

    /// At most `n` keys per listing request (the server's default, 1000, otherwise).
    pub fn with_page_size(mut self, n: usize) -> Prefix {
        self.page = Some(n);
        self
    }

    pub fn with_part_size(mut self, n: u64) -> Prefix {
        self.part_size = n;
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The full key of a key of this prefix.
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// A listed key relative to the prefix; `None` (with a warning) for a key outside it, which
    /// a buggy server or a proxy may return.
    fn relative<'k>(&self, key: &'k str) -> Option<&'k str> {
        let rel = key.strip_prefix(self.prefix.as_str());
        if rel.is_none() {
            msg::warn(&format!(
                "the listing of {} returned {}, which is outside it: ignored",
                self.location(),
                msg::printable(&self.client.shown(key))
            ));
        }
        rel
    }
}

impl Store for Prefix {
    fn location(&self) -> String {
        self.client.shown(&self.prefix)
    }

    fn shown(&self, key: &str) -> String {
        self.client.shown(&self.key(key))
    }

    fn list(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_page(&self.prefix, token.as_deref(), self.page)?;
            for c in page.contents {
                let Some(rel) = self.relative(&c.key) else {
                    continue;
                };
                if rel.is_empty() || (!self.recursive && rel.contains('/')) {
                    continue;
                }
                out.push(Entry {
                    key: rel.to_string(),
                    size: c.size.unwrap_or(0),
                    modified: c
                        .last_modified
                        .as_deref()
                        .and_then(d1_core::time::parse_rfc3339),
                    kind: EntryKind::File,
                });
            }
            match page.next_continuation_token {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                Some(_) => {
                    return Err(Error::failed(format!(
                        "listing {}: the server gave the same continuation token twice",
                        self.location()
                    )))
                }
                None => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out.dedup_by(|a, b| a.key == b.key);
        Ok(out)
    }

    fn read_small(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        self.client.get_small(&self.key(key), limit)
    }

    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>> {
        self.client.get_stream(&self.key(key))
    }

    fn write(&self, key: &str, source: Source) -> Result<Written> {
        let key = self.key(key);
        match source {
            Source::Bytes(b) => {
                let etag = upload::bytes(&self.client, &key, b)?;
                Ok(Written {
                    size: b.len() as u64,
                    etag,
                    parts: 1,
                })
            }
            Source::File { path, sha256 } => {
                let s = upload::file(&self.client, path, &key, sha256, self.part_size)?;
                Ok(Written {
                    size: s.size,
                    etag: s.etag,
                    parts: s.parts,
                })
            }
        }
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.client.delete(&self.key(key))
    }

    fn sync(&self) -> Result<()> {
        Ok(())
    }

    fn lock(&self, deadline: &Deadline) -> Result<Lock> {
        lease::take(&self.client, &self.prefix, &self.location(), deadline)
    }
}
