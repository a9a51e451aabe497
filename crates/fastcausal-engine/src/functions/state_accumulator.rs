//! The one generic bridge between a [`RowState`] of `fastcausal-stats` and DataFusion's
//! aggregation: an [`Accumulator`] for plain aggregates and a [`GroupsAccumulator`] for
//! `GROUP BY`. A statistic supplies only a [`StateFunction`]: how to make an empty state and
//! how to finish one into a SQL value. Everything else — NULL skipping, `FILTER (WHERE …)`,
//! NaN/infinity checks naming the column, routing rows to groups, carrying partial states
//! between partitions as `Binary` — lives here once.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BinaryBuilder, BooleanArray, Float64Array};
use datafusion::arrow::compute::{and, cast, filter, is_not_null};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};
use fastcausal_stats::{RowState, StateCodec};

use crate::error::stats_error;

/// What a statistic adds to the generic accumulators.
pub trait StateFunction: Debug + Send + Sync + 'static {
    /// The state type.
    type State: RowState;
    /// The SQL call as the user wrote it, used to prefix error messages.
    fn label(&self) -> &str;
    /// The input column names, in state order, used in error messages.
    fn column_names(&self) -> &[String];
    /// A fresh, empty state.
    fn new_state(&self) -> Self::State;
    /// The type of [`StateFunction::finish`]'s values.
    fn data_type(&self) -> DataType;
    /// The SQL value of a finished state.
    fn finish(&self, state: &Self::State) -> Result<ScalarValue>;
}

/// Dense `f64` columns of one batch, with rows holding a NULL (or filtered out) removed.
struct DenseColumns {
    columns: Vec<ArrayRef>,
}

impl DenseColumns {
    fn new<F: StateFunction>(f: &F, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Self> {
        let mut columns = Vec::with_capacity(values.len());
        for v in values {
            columns.push(if v.data_type() == &DataType::Float64 { Arc::clone(v) } else { cast(v, &DataType::Float64)? });
        }
        let mut keep: Option<BooleanArray> = opt_filter.map(|f| {
            // A NULL filter value means "not selected".
            match f.nulls() {
                Some(n) if n.null_count() > 0 => BooleanArray::new(f.values() & n.inner(), None),
                _ => f.clone(),
            }
        });
        for c in &columns {
            if c.null_count() > 0 {
                let valid = is_not_null(c)?;
                keep = Some(match keep {
                    Some(k) => and(&k, &valid)?,
                    None => valid,
                });
            }
        }
        if let Some(keep) = keep {
            columns = columns.iter().map(|c| filter(c, &keep)).collect::<Result<_, _>>()?;
        }
        for (j, c) in columns.iter().enumerate() {
            let xs = c.as_primitive::<Float64Type>().values();
            if !xs.iter().fold(true, |ok, x| ok & x.is_finite()) {
                let bad = xs.iter().copied().find(|x| !x.is_finite()).unwrap_or(f64::NAN);
                let column = f.column_names().get(j).cloned().unwrap_or_else(|| format!("argument {}", j + 1));
                return Err(stats_error(f.label(), fastcausal_stats::StatsError::NonFinite { column, value: bad }));
            }
        }
        Ok(DenseColumns { columns })
    }

    fn slices(&self) -> Vec<&[f64]> {
        self.columns.iter().map(|c| c.as_primitive::<Float64Type>().values().as_ref()).collect()
    }

    fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.len())
    }
}

/// Decodes one `Binary` state value; NULL states are empty and skipped.
fn decode_states<S: StateCodec>(label: &str, states: &[ArrayRef]) -> Result<Vec<Option<S>>> {
    let Some(col) = states.first() else { return exec_err!("{label}: missing state column") };
    let col: &BinaryArray = col.as_binary::<i32>();
    col.iter()
        .map(|b| b.map(|b| S::decode(b).map_err(|e| stats_error(label, e))).transpose())
        .collect()
}

/// Plain aggregate (no GROUP BY, or a GROUP BY the planner runs per group).
#[derive(Debug)]
pub struct StateAccumulator<F: StateFunction> {
    function: Arc<F>,
    state: F::State,
}

impl<F: StateFunction> StateAccumulator<F> {
    pub fn new(function: Arc<F>) -> Self {
        let state = function.new_state();
        StateAccumulator { function, state }
    }
}

impl<F: StateFunction> Accumulator for StateAccumulator<F> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let dense = DenseColumns::new(self.function.as_ref(), values, None)?;
        self.state.update(&dense.slices()).map_err(|e| stats_error(self.function.label(), e))
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.function.finish(&self.state)
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.state.heap_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.state.to_bytes()))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for s in decode_states::<F::State>(self.function.label(), states)?.into_iter().flatten() {
            self.state.merge(&s);
        }
        Ok(())
    }
}

/// `GROUP BY` aggregate: one state per group. Rows of a batch are bucketed by group (a counting
/// sort over the groups the batch touches), so each group's rows are folded in as one dense
/// batch rather than row by row.
#[derive(Debug)]
pub struct StateGroupsAccumulator<F: StateFunction> {
    function: Arc<F>,
    states: Vec<F::State>,
    // Scratch reused across batches; never allocated per row.
    counts: Vec<u32>,
    touched: Vec<usize>,
    order: Vec<u32>,
    scratch: Vec<Vec<f64>>,
}

impl<F: StateFunction> StateGroupsAccumulator<F> {
    pub fn new(function: Arc<F>) -> Self {
        StateGroupsAccumulator {
            function,
            states: Vec::new(),
            counts: Vec::new(),
            touched: Vec::new(),
            order: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn ensure_groups(&mut self, total: usize) {
        while self.states.len() < total {
            self.states.push(self.function.new_state());
        }
        if self.counts.len() < total {
            self.counts.resize(total, 0);
        }
    }
}

impl<F: StateFunction> GroupsAccumulator for StateGroupsAccumulator<F> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.ensure_groups(total_num_groups);
        let function = Arc::clone(&self.function);
        let dense = DenseColumns::new(function.as_ref(), values, opt_filter)?;
        let groups: std::borrow::Cow<[usize]> = if dense.rows() == group_indices.len() {
            std::borrow::Cow::Borrowed(group_indices)
        } else {
            // Recompute which rows survived, the same way DenseColumns did.
            std::borrow::Cow::Owned(surviving_groups(values, group_indices, opt_filter))
        };
        let cols = dense.slices();
        let k = cols.len();

        // Bucket rows by group.
        self.touched.clear();
        for &g in groups.iter() {
            if self.counts[g] == 0 {
                self.touched.push(g);
            }
            self.counts[g] += 1;
        }
        if self.touched.len() == 1 {
            let g = self.touched[0];
            self.counts[g] = 0;
            return self.states[g].update(&cols).map_err(|e| stats_error(function.label(), e));
        }
        let mut row = vec![0.0; k];
        self.scratch.resize_with(k, Vec::new);
        let touched = std::mem::take(&mut self.touched);
        // Groups with one row take a push; larger ones are gathered into dense scratch.
        let mut offsets = Vec::with_capacity(touched.len());
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.resize(groups.len(), 0);
        {
            // Exclusive prefix sums over touched groups, stored temporarily in `counts`.
            let mut start = 0u32;
            for &g in &touched {
                let c = self.counts[g];
                self.counts[g] = start;
                offsets.push(start as usize);
                start += c;
            }
            for (i, &g) in groups.iter().enumerate() {
                order[self.counts[g] as usize] = i as u32;
                self.counts[g] += 1;
            }
        }
        for (t, &g) in touched.iter().enumerate() {
            let begin = offsets[t];
            let end = self.counts[g] as usize;
            self.counts[g] = 0;
            let rows = &order[begin..end];
            if rows.len() == 1 {
                let i = rows[0] as usize;
                for j in 0..k {
                    row[j] = cols[j][i];
                }
                self.states[g].push(&row);
            } else {
                for j in 0..k {
                    let buf = &mut self.scratch[j];
                    buf.clear();
                    buf.extend(rows.iter().map(|&i| cols[j][i as usize]));
                }
                let slices: Vec<&[f64]> = self.scratch.iter().map(|v| v.as_slice()).collect();
                self.states[g].update(&slices).map_err(|e| stats_error(function.label(), e))?;
            }
        }
        self.touched = touched;
        self.order = order;
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let states = emit_to.take_needed(&mut self.states);
        let values = states.iter().map(|s| self.function.finish(s)).collect::<Result<Vec<_>>>()?;
        if values.is_empty() {
            return Ok(datafusion::arrow::array::new_empty_array(&self.function.data_type()));
        }
        ScalarValue::iter_to_array(values)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let states = emit_to.take_needed(&mut self.states);
        let mut b = BinaryBuilder::with_capacity(states.len(), states.len() * 64);
        let mut buf = Vec::new();
        for s in &states {
            buf.clear();
            s.encode(&mut buf);
            b.append_value(&buf);
        }
        Ok(vec![Arc::new(b.finish())])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.ensure_groups(total_num_groups);
        let decoded = decode_states::<F::State>(self.function.label(), values)?;
        for (s, &g) in decoded.iter().zip(group_indices) {
            if let Some(s) = s {
                self.states[g].merge(s);
            }
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        // Each row becomes its own one-row state; a skipped row (NULL input, filtered out)
        // becomes an empty state, which merges as nothing.
        let rows = values.first().map_or(0, |v| v.len());
        let all_rows = DenseColumns::new(self.function.as_ref(), values, None).ok().filter(|d| d.rows() == rows);
        let columns: Vec<ArrayRef> = match &all_rows {
            Some(d) => d.columns.clone(),
            None => values.iter().map(|v| cast(v, &DataType::Float64)).collect::<Result<_, _>>()?,
        };
        let floats: Vec<&Float64Array> = columns.iter().map(|c| c.as_primitive::<Float64Type>()).collect();
        let mut b = BinaryBuilder::with_capacity(rows, rows * 32);
        let mut buf = Vec::new();
        let mut row = vec![0.0; floats.len()];
        let empty = {
            self.function.new_state().encode(&mut buf);
            std::mem::take(&mut buf)
        };
        for i in 0..rows {
            let selected = opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i));
            if !selected || floats.iter().any(|c| c.is_null(i)) {
                b.append_value(&empty);
                continue;
            }
            for (j, c) in floats.iter().enumerate() {
                let x = c.value(i);
                if !x.is_finite() {
                    let column = self.function.column_names().get(j).cloned().unwrap_or_else(|| format!("argument {}", j + 1));
                    return Err(stats_error(self.function.label(), fastcausal_stats::StatsError::NonFinite { column, value: x }));
                }
                row[j] = x;
            }
            let mut state = self.function.new_state();
            state.push(&row);
            buf.clear();
            state.encode(&mut buf);
            b.append_value(&buf);
        }
        Ok(vec![Arc::new(b.finish())])
    }

    fn size(&self) -> usize {
        size_of::<Self>()
            + self.states.iter().map(|s| size_of::<F::State>() + s.heap_size()).sum::<usize>()
            + self.counts.capacity() * 4
            + self.order.capacity() * 4
            + self.scratch.iter().map(|v| v.capacity() * 8).sum::<usize>()
    }
}

/// The group index of each row that has no NULL input and passes the filter.
fn surviving_groups(values: &[ArrayRef], group_indices: &[usize], opt_filter: Option<&BooleanArray>) -> Vec<usize> {
    (0..group_indices.len())
        .filter(|&i| {
            opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i)) && values.iter().all(|v| v.is_valid(i))
        })
        .map(|i| group_indices[i])
        .collect()
}
