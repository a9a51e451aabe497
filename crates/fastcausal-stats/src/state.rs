//! The contract every row-fed state meets, so one generic adapter per front end serves them all.

use crate::codec::StateCodec;
use crate::error::{Result, StatsError};

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
    /// Folds a batch into several states at once: row `i` goes to `states[codes[i]]`. This is
    /// how a batch mixing arms (or groups) is folded without first splitting it.
    ///
    /// The default sorts the rows by code (a counting sort) and folds each state's rows in as
    /// one dense [`RowState::update`]; states with a cheaper direct route override it.
    fn update_coded(states: &mut [Self], codes: &[u32], columns: &[&[f64]]) -> Result<()>
    where
        Self: Sized,
    {
        fold_sorted(states, codes, columns)
    }
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

/// Checks the arguments of [`RowState::update_coded`]: every column as long as `codes`, every
/// code below `states`.
pub(crate) fn check_coded(states: usize, codes: &[u32], columns: &[&[f64]]) -> Result<()> {
    if let Some(c) = columns.iter().find(|c| c.len() != codes.len()) {
        return Err(StatsError::Shape(format!("a column of {} rows with {} row codes", c.len(), codes.len())));
    }
    let top = codes.iter().fold(0u32, |m, &c| m.max(c));
    if !codes.is_empty() && top as usize >= states {
        return Err(StatsError::Shape(format!("row code {top} for {states} states")));
    }
    Ok(())
}

/// [`RowState::update_coded`] by sorting: a counting sort of the rows by code, then one dense
/// [`RowState::update`] per state.
pub(crate) fn fold_sorted<S: RowState>(states: &mut [S], codes: &[u32], columns: &[&[f64]]) -> Result<()> {
    check_coded(states.len(), codes, columns)?;
    let buckets = states.len();
    let mut start = vec![0usize; buckets + 1];
    for &c in codes {
        start[c as usize + 1] += 1;
    }
    for b in 0..buckets {
        start[b + 1] += start[b];
    }
    let mut next = start.clone();
    let mut order = vec![0u32; codes.len()];
    for (i, &c) in codes.iter().enumerate() {
        order[next[c as usize]] = i as u32;
        next[c as usize] += 1;
    }
    let mut gathered: Vec<Vec<f64>> = vec![Vec::new(); columns.len()];
    for (b, state) in states.iter_mut().enumerate() {
        let rows = &order[start[b]..start[b + 1]];
        if rows.is_empty() {
            continue;
        }
        if rows.len() == codes.len() {
            return state.update(columns);
        }
        for (buf, column) in gathered.iter_mut().zip(columns) {
            buf.clear();
            buf.extend(rows.iter().map(|&i| column[i as usize]));
        }
        let slices: Vec<&[f64]> = gathered.iter().map(Vec::as_slice).collect();
        state.update(&slices)?;
    }
    Ok(())
}
