//! The places a tool reads backups from, as the user names them on its command line: folders,
//! and bucket prefixes (`s3://BUCKET/PREFIX/`), opened as [`Store`]s.

use crate::folder;
use crate::s3::{Options, Prefix, S3Url};
use crate::store::Store;
use d1_core::retry::{Deadline, Policy};
use d1_core::Result;
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, Default)]
pub struct Places {
    pub dirs: Vec<PathBuf>,
    /// In the order given.
    pub buckets: Vec<S3Url>,
}

impl Places {
    /// A command-line value: `s3://…` is a bucket prefix (a bad one is exit 2), anything else
    /// a folder.
    pub fn add(&mut self, v: OsString) -> Result<()> {
        match v.to_str().filter(|s| s.starts_with("s3://")) {
            Some(url) => self.buckets.push(S3Url::parse(url)?),
            None => self.dirs.push(PathBuf::from(v)),
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty() && self.buckets.is_empty()
    }

    /// None given is a usage error (exit 2): a tool of places never means "here".
    pub fn check(&self) -> Result<()> {
        if self.is_empty() {
            return Err(d1_core::Error::usage(
                "no folder given: name the backup folders or s3://BUCKET/PREFIX/ (try --help)",
            ));
        }
        Ok(())
    }

    /// The folders, and with `recursive` each one below them, in the order they are locked
    /// (`folder::folders`).
    pub fn folders(&self, recursive: bool) -> Result<Vec<Box<dyn Store>>> {
        if self.dirs.is_empty() {
            return Ok(Vec::new());
        }
        Ok(folder::folders(&self.dirs, recursive)?
            .into_iter()
            .map(|f| Box::new(f) as Box<dyn Store>)
            .collect())
    }

    /// Each bucket prefix, with its client (credentials and endpoint from `opts` and the
    /// environment: missing keys are exit 3 before anything is read).
    pub fn buckets(
        &self,
        opts: &Options,
        policy: Policy,
        deadline: Deadline,
        recursive: bool,
    ) -> Result<Vec<Box<dyn Store>>> {
        self.buckets
            .iter()
            .map(|u| {
                Prefix::open(opts, u, policy, deadline, recursive)
                    .map(|p| Box::new(p) as Box<dyn Store>)
            })
            .collect()
    }
}
