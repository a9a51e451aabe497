//! `fastcausal._internal`: the engine for Python.
//!
//! The Python package (`python/fastcausal/`) is a thin typed layer; everything that reads, plans,
//! computes or converts happens here, on the same [`Engine`] the command line uses:
//!
//! * [`Session`]: an engine (with a warehouse or without), which reads files, takes Arrow data
//!   from Python and runs SQL.
//! * [`Frame`]: a lazy DataFusion data frame. The Python `DataFrame` builds its operations and
//!   statistics as SQL over a frame's [name](Frame::name), a view registered for the frame's
//!   lifetime, so every SQL function (with metric expressions and multi-pass fits) is available
//!   to Python exactly as to SQL.
//! * Data crosses the boundary through the Arrow PyCapsule interface (pyo3-arrow): tables come in
//!   and go out without copying their buffers.
//!
//! Long calls run on a shared tokio runtime with the GIL released, and stop when Python has a
//! pending signal (Ctrl-C): [`run`]. Errors become `fastcausal.FastcausalError` carrying the
//! same one-line message as the command line.

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use datafusion::common::DataFusionError;
use fastcausal_engine::Engine;
use pyo3::prelude::*;

mod frame;
mod session;

pub use frame::Frame;
pub use session::Session;

/// mimalloc, as in the command line: Arrow allocates and frees large buffers per batch.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pyo3::create_exception!(
    fastcausal,
    FastcausalError,
    pyo3::exceptions::PyException,
    "An error of fastcausal: bad input, an unknown column or table, a statistic that cannot be computed."
);

/// The runtime every call runs on (all cores, as the command line).
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("starting the tokio runtime")
});

/// Rows per Arrow batch crossing between Python and the engine, both ways: data from Python is
/// sliced (not copied) to this size, and results that are rows read (not computed from many) are
/// made in batches at least this large.
/// Every batch costs the receiving side per-column work (an import, a chunk), so large ones keep
/// the crossing's cost to a few milliseconds for a 10M-row table.
pub(crate) const ARROW_BATCH_ROWS: usize = 1 << 17;

/// How often a running call looks for Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// Runs `work` to completion with the GIL released. Every [`SIGNAL_CHECK`] it takes the GIL to
/// ask Python for pending signals; on Ctrl-C the work is dropped (which cancels DataFusion's
/// tasks) and `KeyboardInterrupt` is raised.
pub(crate) fn run<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: Future<Output = PyResult<T>> + Send,
{
    py.detach(|| {
        RUNTIME.block_on(async {
            tokio::pin!(work);
            let mut tick = tokio::time::interval(SIGNAL_CHECK);
            tick.tick().await;
            loop {
                tokio::select! {
                    done = &mut work => return done,
                    _ = tick.tick() => Python::attach(|py| py.check_signals())?,
                }
            }
        })
    })
}

/// A DataFusion error as a Python exception with the engine's one-line message.
pub(crate) fn py_error(engine: &Engine, e: DataFusionError) -> PyErr {
    FastcausalError::new_err(engine.error_message(&e))
}

/// A message as a Python exception.
pub(crate) fn py_message(message: impl Into<String>) -> PyErr {
    FastcausalError::new_err(message.into())
}

/// The R/statsmodels-style summary of each regression in `table` (a statistic's result), as the
/// command line prints it.
#[pyfunction]
fn render_summary(table: pyo3_arrow::PyTable) -> PyResult<String> {
    let (batches, schema) = table.into_inner();
    fastcausal_engine::summary::render_regressions(&schema, &batches)
        .ok_or_else(|| py_message("the table holds no regression result"))
}

#[pymodule]
mod _internal {
    #[pymodule_export]
    use super::{FastcausalError, Frame, Session, render_summary};

    #[pymodule_init]
    fn init(m: &pyo3::Bound<'_, pyo3::types::PyModule>) -> pyo3::PyResult<()> {
        use pyo3::types::PyModuleMethods;
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
