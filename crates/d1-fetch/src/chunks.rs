//! The download's chunk buffers, handed back once written and hashed. A fresh 256 KiB buffer
//! per chunk cost an allocation, 64 page faults and zeroing each time: about a tenth of
//! d1-fetch's CPU on a loopback download. A few buffers circulate instead.

use std::sync::{Arc, Mutex};

/// Bytes per chunk read from the network.
pub const CHUNK: usize = 256 * 1024;

/// More than the chunks ever in flight (read-ahead channel, MD5 channel, one each in hand);
/// extras are freed, so memory stays bounded if that ever changes.
const KEEP: usize = 16;

#[derive(Clone, Default)]
pub struct Pool(Arc<Mutex<Vec<Vec<u8>>>>);

impl Pool {
    /// A CHUNK-long buffer (its contents are whatever an earlier chunk left).
    pub fn take(&self) -> Vec<u8> {
        let mut buf = self
            .0
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .unwrap_or_default();
        // Zero-fills only what is new: nothing for a buffer that was full before.
        buf.resize(CHUNK, 0);
        buf
    }

    pub fn give(&self, buf: Vec<u8>) {
        if let Ok(mut free) = self.0.lock() {
            if free.len() < KEEP {
                free.push(buf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_full_length_and_the_pool_stays_bounded() {
        let pool = Pool::default();
        let mut b = pool.take();
        assert_eq!(b.len(), CHUNK);
        b.truncate(10);
        pool.give(b);
        assert_eq!(pool.take().len(), CHUNK);
        for _ in 0..KEEP + 5 {
            pool.give(vec![0; 1]);
        }
        assert_eq!(pool.0.lock().unwrap().len(), KEEP);
    }
}
