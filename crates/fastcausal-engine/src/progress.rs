//! Progress reporting for long work (imports, data generation), without tying the engine to a
//! terminal: the CLI shows a progress bar, Python may show nothing or a notebook widget.

use std::sync::atomic::{AtomicBool, Ordering};

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Rows,
}

/// Receives progress of one phase at a time.
pub trait Progress: Send + Sync {
    /// A new phase: a message and, if known, the total.
    fn begin(&self, message: &str, total: Option<u64>, unit: Unit);
    /// `delta` more units done.
    fn advance(&self, delta: u64);
    /// The phase is over.
    fn finish(&self);
}

/// Shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: Option<u64>, _: Unit) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// A flag a front end raises (on Ctrl-C, say) to stop long work between batches.
#[derive(Debug, Default)]
pub struct Cancel(AtomicBool);

impl Cancel {
    pub fn new() -> Self {
        Cancel(AtomicBool::new(false))
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
