//! The contract every row-fed state meets, so one generic adapter per front end serves them all.

use crate::codec::StateCodec;
use crate::error::Result;

/// A mergeable state fed by rows of `f64` columns (NULL-free; the front end skips NULL rows).
///
/// Laws, checked by property tests for each implementation:
/// `merge(update(a), update(b)) == update(a ∪ b)` and `push` row by row `== update`.
pub trait RowState: Clone + Send + Sync + std::fmt::Debug + StateCodec + 'static {
    /// Number of input columns.
    fn columns(&self) -> usize;
    /// Folds in a batch: one slice per column, all the same length.
    fn update(&mut self, columns: &[&[f64]]) -> Result<()>;
    /// Folds in one row.
    fn push(&mut self, row: &[f64]);
    /// Combines another state of the same shape into this one.
    fn merge(&mut self, other: &Self);
    /// Number of rows seen.
    fn rows(&self) -> u64;
    /// Prepares the state to be encoded or finished, e.g. sorts kept values. Called by the
    /// front ends before [`StateCodec::encode`] of a partial state; the default does nothing.
    fn seal(&mut self) {}
    /// Approximate heap size in bytes, for the engine's memory accounting.
    fn heap_size(&self) -> usize;
}
