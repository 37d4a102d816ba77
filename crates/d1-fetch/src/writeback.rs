//! Flushes a dump to disk while it downloads. The atomic commit fsyncs the whole file at the
//! end; on this machine that wait was 0.25 s per 100 MB, a quarter of the download
//! (docs/performance.md). A helper thread fsyncs a clone of the file every WINDOW bytes, so the
//! disk works during the transfer and the final fsync only waits for the tail.

use d1_core::atomic::AtomicFile;
use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

const WINDOW: u64 = 16 << 20;

pub struct Writeback {
    file: AtomicFile,
    since: u64,
    tx: Option<SyncSender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Writeback {
    pub fn new(mut file: AtomicFile) -> io::Result<Writeback> {
        let clone = file.file().try_clone()?;
        let (tx, rx) = sync_channel::<()>(1);
        // Errors are ignored here: the commit's own fsync reports them.
        let handle = std::thread::spawn(move || {
            for () in rx {
                let _ = clone.sync_data();
            }
        });
        Ok(Writeback {
            file,
            since: 0,
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    pub fn into_inner(mut self) -> AtomicFile {
        drop(self.tx.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.file
    }
}

impl Write for Writeback {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.since += n as u64;
        if self.since >= WINDOW {
            self.since = 0;
            if let Some(tx) = &self.tx {
                // Busy syncing the previous window: this one is covered by the next.
                let _ = tx.try_send(());
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
