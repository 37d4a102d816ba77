//! The pruning lock of a bucket prefix: an object, `PREFIX/.d1-prune.lock`, created only where
//! none exists (`If-None-Match: *`, which S3 and R2 honour) and deleted when the run ends. A run
//! that died cannot delete it, so a lock older than [`LEASE`] is taken over; the lock is a
//! courtesy between well-behaved runs (two runs that decide alike remove the same objects).

use super::client::{Body, Client};
use crate::store::{Lock, LOCK_NAME};
use d1_core::retry::Deadline;
use d1_core::time::Utc;
use d1_core::{msg, Result};
use std::sync::Arc;
use std::time::Duration;

/// How long a lock holds without its holder: longer than a pruning run takes.
pub const LEASE: Duration = Duration::from_secs(3600);
/// How often a waiting run tries again.
const POLL: Duration = Duration::from_secs(1);

/// Deletes the lock object when dropped.
struct Held {
    client: Arc<Client>,
    key: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Err(e) = self.client.cleanup_delete(&self.key) {
            msg::warn(&format!(
                "{} (the next run takes it over after {} minutes)",
                e.message,
                LEASE.as_secs() / 60
            ));
        }
    }
}

fn holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("process {} on {}", std::process::id(), host.trim())
}

/// Takes the lock of `prefix`, waiting for another holder until `deadline` (exit 75).
pub fn take(
    client: &Arc<Client>,
    prefix: &str,
    location: &str,
    deadline: &Deadline,
) -> Result<Lock> {
    let key = format!("{prefix}{LOCK_NAME}");
    let shown = client.shown(&key);
    let body = serde_json::json!({"holder": holder(), "taken_at": Utc::now().rfc3339()});
    let body = Body::Bytes(format!("{body}\n").into_bytes());
    let mut told = false;
    loop {
        if client.put_if_absent(&key, &body)? {
            return Ok(Lock::new(Held {
                client: Arc::clone(client),
                key,
            }));
        }
        // Held: by whom, since when. Gone meanwhile: try again at once.
        let Some(text) = client.get_small(&key, 4096)? else {
            continue;
        };
        let lock: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
        let taken = lock["taken_at"].as_str().unwrap_or("an unknown time");
        let age = d1_core::time::parse_rfc3339(taken)
            .map(|t| d1_core::time::unix_now() - t)
            .unwrap_or(i64::MAX);
        if age > LEASE.as_secs() as i64 {
            msg::warn(&format!(
                "taking over {shown}: taken at {taken}, more than {} minutes ago, by a run that \
                 did not release it",
                LEASE.as_secs() / 60
            ));
            client.cleanup_delete(&key)?;
            continue;
        }
        if !told {
            msg::info(&format!(
                "waiting for another d1-prune on {location} to finish ({shown}: {} since {taken})",
                lock["holder"].as_str().unwrap_or("another run")
            ));
            told = true;
        }
        d1_core::retry::sleep(POLL, deadline, &format!("another d1-prune holds {shown}"))?;
    }
}
