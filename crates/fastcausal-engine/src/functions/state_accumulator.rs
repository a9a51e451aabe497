//! The one generic bridge between a [`RowState`] of `fastcausal-stats` and DataFusion's
//! aggregation: an [`Accumulator`] for plain aggregates and a [`GroupsAccumulator`] for
//! `GROUP BY`.
//!
//! A statistic's inputs are zero or more *key* columns (an experiment's arm, a stratum) followed
//! by its *value* columns. Each SQL group holds a [`Keyed`] state: one state per distinct key.
//! A statistic supplies only a [`StateFunction`] — how to make an empty state and how to finish a
//! group's keyed states into a SQL value. Everything else lives here once: NULL skipping,
//! `FILTER (WHERE …)`, NaN/infinity checks naming the column, coding a batch's rows by
//! (group, key) so the states of all buckets are folded together in one call (no per-row
//! allocation or dispatch, see [`RowState::update_coded`]), and carrying partial states between
//! partitions as `Binary`.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayAccessor, ArrayRef, AsArray, BinaryArray, BinaryBuilder, BooleanArray, Float64Array, Int64Array,
};
use datafusion::arrow::compute::{and, cast, filter, is_not_null};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};
use fastcausal_stats::{KeyRef, Keyed, RowState, StateCodec, StatsError};

use crate::error::stats_error;

/// What a statistic adds to the generic accumulators.
pub trait StateFunction: Debug + Send + Sync + 'static {
    /// The state kept per key.
    type State: RowState;
    /// The SQL call as the user wrote it, used to prefix error messages.
    fn label(&self) -> &str;
    /// Names of the key inputs (arm, stratum), which come first among the inputs.
    fn key_names(&self) -> &[String] {
        &[]
    }
    /// Names of the value inputs, in state order, used in error messages.
    fn column_names(&self) -> &[String];
    /// A fresh, empty state.
    fn new_state(&self) -> Self::State;
    /// A fresh, empty state for the key `key` (the values of the key inputs). States that
    /// depend on their key — a Newton pass's linear predictor differs per group and per level of
    /// a categorical term — override this; the default is [`StateFunction::new_state`].
    fn new_keyed_state(&self, key: &[KeyRef<'_>]) -> Self::State {
        let _ = key;
        self.new_state()
    }
    /// What to suggest when value column `column` is not numeric.
    fn non_numeric_hint(&self, column: &str) -> String {
        format!("e.g. CAST({column} AS DOUBLE) or ({column} = 'some value')")
    }
    /// The type of [`StateFunction::finish`]'s values.
    fn data_type(&self) -> DataType;
    /// The SQL value of one group's keyed states (`&mut` so states can be sorted in place).
    fn finish(&self, cells: &mut Keyed<Self::State>) -> Result<ScalarValue>;
}

/// Whether a type can be a key input (after the coercion of [`super::spec`]).
pub fn is_key_type(t: &DataType) -> bool {
    matches!(t, DataType::Int64 | DataType::Float64 | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// `v` as `Float64`: numbers converted in one pass with `unary` (every integer has a nearest
/// double; no checks, no zeroed buffers), anything else by arrow's cast.
fn as_floats(v: &ArrayRef) -> Result<ArrayRef> {
    fn convert<T: ArrowPrimitiveType>(v: &ArrayRef, to_f64: fn(T::Native) -> f64) -> ArrayRef {
        Arc::new(v.as_primitive::<T>().unary::<_, Float64Type>(to_f64))
    }
    Ok(match v.data_type() {
        DataType::Float64 => Arc::clone(v),
        DataType::Float32 => convert::<Float32Type>(v, f64::from),
        DataType::Int64 => convert::<Int64Type>(v, |x| x as f64),
        DataType::Int32 => convert::<Int32Type>(v, f64::from),
        DataType::Int16 => convert::<Int16Type>(v, f64::from),
        DataType::Int8 => convert::<Int8Type>(v, f64::from),
        DataType::UInt64 => convert::<UInt64Type>(v, |x| x as f64),
        DataType::UInt32 => convert::<UInt32Type>(v, f64::from),
        DataType::UInt16 => convert::<UInt16Type>(v, f64::from),
        DataType::UInt8 => convert::<UInt8Type>(v, f64::from),
        _ => cast(v, &DataType::Float64)?,
    })
}

/// One batch's inputs with rows that hold a NULL (or are filtered out) removed, values as
/// `f64`, and every value checked to be finite.
struct Prepared {
    keys: Vec<ArrayRef>,
    values: Vec<ArrayRef>,
    /// The original row of each kept row, when some rows were dropped.
    kept: Option<Vec<u32>>,
}

impl Prepared {
    fn new<F: StateFunction>(f: &F, inputs: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Self> {
        let nkeys = f.key_names().len();
        let (key_inputs, value_inputs) = inputs.split_at(nkeys.min(inputs.len()));
        let mut values = Vec::with_capacity(value_inputs.len());
        for v in value_inputs {
            values.push(as_floats(v)?);
        }
        let mut keys = key_inputs.to_vec();
        let mut keep: Option<BooleanArray> = opt_filter.map(|f| match f.nulls() {
            // A NULL filter value means "not selected".
            Some(n) if n.null_count() > 0 => BooleanArray::new(f.values() & n.inner(), None),
            _ => f.clone(),
        });
        for c in keys.iter().chain(&values) {
            if c.null_count() > 0 {
                let valid = is_not_null(c)?;
                keep = Some(match keep {
                    Some(k) => and(&k, &valid)?,
                    None => valid,
                });
            }
        }
        let mut kept = None;
        if let Some(keep) = keep
            && keep.true_count() < keep.len()
        {
            keys = keys.iter().map(|c| filter(c, &keep)).collect::<Result<_, _>>()?;
            values = values.iter().map(|c| filter(c, &keep)).collect::<Result<_, _>>()?;
            kept = Some(keep.values().set_indices().map(|i| i as u32).collect());
        }
        for (j, c) in values.iter().enumerate() {
            let xs = c.as_primitive::<Float64Type>().values();
            if !xs.iter().fold(true, |ok, x| ok & x.is_finite()) {
                let bad = xs.iter().copied().find(|x| !x.is_finite()).unwrap_or(f64::NAN);
                return Err(non_finite(f, j, bad));
            }
        }
        Ok(Prepared { keys, values, kept })
    }

    fn rows(&self) -> usize {
        self.values.first().or(self.keys.first()).map_or(0, |c| c.len())
    }

    fn slices(&self) -> Vec<&[f64]> {
        self.values.iter().map(|c| c.as_primitive::<Float64Type>().values().as_ref()).collect()
    }
}

fn non_finite<F: StateFunction>(f: &F, j: usize, value: f64) -> DataFusionError {
    let column = f.column_names().get(j).cloned().unwrap_or_else(|| format!("argument {}", j + 1));
    stats_error(f.label(), StatsError::NonFinite { column, value })
}

/// The distinct values of one key column in a batch and each row's index among them.
struct ColumnCodes<'a> {
    codes: Vec<u32>,
    distinct: Vec<KeyRef<'a>>,
}

/// Keys spanning fewer integer values than this are coded through a direct table.
const TABLE_SPAN: usize = 4096;

impl<'a> ColumnCodes<'a> {
    fn new(label: &str, name: &str, array: &'a ArrayRef) -> Result<Self> {
        match array.data_type() {
            DataType::Int64 => Ok(Self::integers(array.as_primitive::<Int64Type>().values())),
            DataType::Float64 => Ok(Self::numbers(array.as_primitive::<Float64Type>().values())),
            DataType::Utf8 => Ok(Self::texts(array.as_string::<i32>())),
            DataType::LargeUtf8 => Ok(Self::texts(array.as_string::<i64>())),
            DataType::Utf8View => Ok(Self::texts(array.as_string_view())),
            other => exec_err!("{label}: column '{name}' has type {other}; an arm or stratum must be a number or text"),
        }
    }

    /// Integer keys (the usual 0/1 arm) within a small span take a direct table; others a map.
    fn integers(xs: &'a [i64]) -> Self {
        let (lo, hi) = xs.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        if (hi as i128 - lo as i128) < TABLE_SPAN as i128 {
            let span = (hi - lo) as usize + 1;
            if let Some(codes) = Self::tabled(xs, span, |x| Some((x - lo) as usize), |x| KeyRef::Number(x as f64)) {
                return codes;
            }
        }
        Self::hashed(xs, |x| x, |x| KeyRef::Number(x as f64))
    }

    /// Numbers that are small integer offsets from their minimum take a direct table; others
    /// a map on their bits (with `-0.0` read as `0.0`).
    fn numbers(xs: &'a [f64]) -> Self {
        let (lo, hi) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let zero = |x: f64| if x == 0.0 { 0.0 } else { x };
        if hi - lo < TABLE_SPAN as f64 {
            let offset = |x: f64| {
                let d = x - lo;
                let k = d as usize;
                (k as f64 == d).then_some(k)
            };
            if let Some(codes) = Self::tabled(xs, (hi - lo) as usize + 1, offset, |x| KeyRef::Number(zero(x))) {
                return codes;
            }
        }
        Self::hashed(xs, |x| zero(x).to_bits(), |x| KeyRef::Number(zero(x)))
    }

    /// Codes through a table indexed by `slot(x) < span`, or `None` if some value has no slot.
    fn tabled<T: Copy>(
        xs: &[T],
        span: usize,
        slot: impl Fn(T) -> Option<usize>,
        key: impl Fn(T) -> KeyRef<'a>,
    ) -> Option<Self> {
        let mut codes = Vec::with_capacity(xs.len());
        let mut distinct = Vec::new();
        let mut table = vec![u32::MAX; span];
        for &x in xs {
            let s = &mut table[slot(x)?];
            if *s == u32::MAX {
                *s = distinct.len() as u32;
                distinct.push(key(x));
            }
            codes.push(*s);
        }
        Some(ColumnCodes { codes, distinct })
    }

    /// Codes through a hash map on `id(x)`.
    fn hashed<T: Copy, H: std::hash::Hash + Eq>(xs: &[T], id: impl Fn(T) -> H, key: impl Fn(T) -> KeyRef<'a>) -> Self {
        let mut codes = Vec::with_capacity(xs.len());
        let mut distinct = Vec::new();
        let mut seen: HashMap<H, u32> = HashMap::new();
        for &x in xs {
            let code = *seen.entry(id(x)).or_insert_with(|| {
                distinct.push(key(x));
                distinct.len() as u32 - 1
            });
            codes.push(code);
        }
        ColumnCodes { codes, distinct }
    }

    fn texts<A: ArrayAccessor<Item = &'a str>>(array: A) -> Self {
        let n = array.len();
        let mut codes = Vec::with_capacity(n);
        let mut distinct = Vec::new();
        let mut seen: HashMap<&'a str, u32> = HashMap::new();
        let mut last: Option<(&str, u32)> = None;
        for i in 0..n {
            let s = array.value(i);
            let code = match last {
                Some((l, c)) if l == s => c,
                _ => {
                    let c = *seen.entry(s).or_insert_with(|| {
                        distinct.push(KeyRef::Text(s));
                        distinct.len() as u32 - 1
                    });
                    last = Some((s, c));
                    c
                }
            };
            codes.push(code);
        }
        ColumnCodes { codes, distinct }
    }
}

/// Reusable scratch for [`fold_batch`]; nothing here is allocated per row.
#[derive(Debug, Default)]
struct Scratch {
    /// Local index + 1 of each group touched by the current batch (0 = untouched).
    local: Vec<u32>,
    touched: Vec<usize>,
    /// Per row: (local group, key code) as one number, before compaction.
    ids: Vec<u64>,
    /// Bucket + 1 of each id of a dense id range (0 = not seen yet).
    slots: Vec<u32>,
}

impl Scratch {
    fn size(&self) -> usize {
        (self.local.capacity() + self.slots.capacity()) * 4 + (self.ids.capacity() + self.touched.capacity()) * 8
    }
}

/// A batch's rows assigned to buckets — one bucket per (group, key) present — as dense codes.
struct Buckets {
    /// Bucket of each row.
    codes: Vec<u32>,
    /// Group and key code of each bucket.
    cells: Vec<(usize, u64)>,
}

/// Folds one batch into `cells` (one keyed state per group). `groups` maps each input row to
/// its group; `None` means every row belongs to group 0.
///
/// The rows are coded by bucket, each bucket's state is taken out of its cell, the states are
/// updated together by [`RowState::update_coded`] (one pass over the batch for moments) and put
/// back.
fn fold_batch<F: StateFunction>(
    f: &F,
    cells: &mut [Keyed<F::State>],
    scratch: &mut Scratch,
    inputs: &[ArrayRef],
    groups: Option<&[usize]>,
    opt_filter: Option<&BooleanArray>,
) -> Result<()> {
    let batch = Prepared::new(f, inputs, opt_filter)?;
    let n = batch.rows();
    if n == 0 {
        return Ok(());
    }
    let label = f.label();
    let err = |e: StatsError| stats_error(label, e);
    let cols = batch.slices();

    // Key codes, combined over key columns by mixed radix.
    let mut key_codes = batch
        .keys
        .iter()
        .zip(f.key_names())
        .map(|(a, name)| ColumnCodes::new(label, name, a))
        .collect::<Result<Vec<_>>>()?;
    let mut radix: u64 = 1;
    for c in &key_codes {
        radix = radix
            .checked_mul(c.distinct.len().max(1) as u64)
            .ok_or_else(|| DataFusionError::Execution(format!("{label}: too many distinct keys in one batch")))?;
    }
    let distinct: Vec<Vec<KeyRef>> = key_codes.iter().map(|c| c.distinct.clone()).collect();
    let key_of = |code: u64| -> Vec<KeyRef<'_>> {
        let mut rest = code;
        let mut key = vec![KeyRef::Number(0.0); distinct.len()];
        for (j, d) in distinct.iter().enumerate().rev() {
            let size = d.len() as u64;
            key[j] = d[(rest % size) as usize];
            rest /= size;
        }
        key
    };

    // Fast path: one group, one key — fold the whole batch in place.
    if groups.is_none() && radix == 1 {
        let key = key_of(0);
        return cells[0].entry(&key, || f.new_keyed_state(&key)).update(&cols).map_err(err);
    }

    let buckets = match (groups, key_codes.len()) {
        // One key column and no groups: the key codes are the buckets.
        (None, 1) => {
            let codes = std::mem::take(&mut key_codes[0].codes);
            Buckets { codes, cells: (0..radix).map(|k| (0, k)).collect() }
        }
        _ => bucket_rows(scratch, &key_codes, radix, groups, batch.kept.as_deref(), n),
    };

    // Take each bucket's state out of its cell, fold the batch into all of them, put them back.
    let mut states: Vec<F::State> = buckets
        .cells
        .iter()
        .map(|&(g, k)| {
            let key = key_of(k);
            std::mem::replace(cells[g].entry(&key, || f.new_keyed_state(&key)), f.new_state())
        })
        .collect();
    let result = F::State::update_coded(&mut states, &buckets.codes, &cols).map_err(err);
    for (&(g, k), state) in buckets.cells.iter().zip(states) {
        let key = key_of(k);
        *cells[g].entry(&key, || f.new_keyed_state(&key)) = state;
    }
    let mut last = usize::MAX;
    for &(g, _) in &buckets.cells {
        if g != last {
            cells[g].tidy();
            last = g;
        }
    }
    result
}

/// Buckets rows by (group, key) when there are groups or several key columns.
fn bucket_rows(
    scratch: &mut Scratch,
    key_codes: &[ColumnCodes],
    radix: u64,
    groups: Option<&[usize]>,
    kept: Option<&[u32]>,
    n: usize,
) -> Buckets {
    let group_of = |i: usize| -> usize {
        match (groups, kept) {
            (None, _) => 0,
            (Some(g), None) => g[i],
            (Some(g), Some(kept)) => g[kept[i] as usize],
        }
    };
    // id = local group × radix + key code, with local groups numbered as first seen.
    scratch.touched.clear();
    if let Some(g) = groups {
        let total = g.iter().copied().max().map_or(0, |m| m + 1);
        if scratch.local.len() < total {
            scratch.local.resize(total, 0);
        }
    }
    scratch.ids.clear();
    scratch.ids.reserve(n);
    for i in 0..n {
        let mut key = 0u64;
        for c in key_codes {
            key = key * c.distinct.len() as u64 + c.codes[i] as u64;
        }
        let local = if groups.is_some() {
            let g = group_of(i);
            if scratch.local[g] == 0 {
                scratch.touched.push(g);
                scratch.local[g] = scratch.touched.len() as u32;
            }
            (scratch.local[g] - 1) as u64
        } else {
            0
        };
        scratch.ids.push(local * radix + key);
    }
    let span = if groups.is_some() { scratch.touched.len() as u64 * radix } else { radix };

    // Compact the ids to buckets numbered as first seen: through a table when the id range is
    // dense, else through a map (many groups × many keys).
    let mut codes = Vec::with_capacity(n);
    let mut cells = Vec::new();
    let mut new_bucket = |i: usize, id: u64| {
        cells.push((group_of(i), id % radix));
        cells.len() as u32 - 1
    };
    if span <= 4 * n as u64 + 1024 {
        scratch.slots.clear();
        scratch.slots.resize(span as usize, 0);
        for (i, &id) in scratch.ids.iter().enumerate() {
            let slot = &mut scratch.slots[id as usize];
            if *slot == 0 {
                *slot = new_bucket(i, id) + 1;
            }
            codes.push(*slot - 1);
        }
    } else {
        let mut seen: HashMap<u64, u32> = HashMap::new();
        for (i, &id) in scratch.ids.iter().enumerate() {
            codes.push(*seen.entry(id).or_insert_with(|| new_bucket(i, id)));
        }
    }
    for &g in &scratch.touched {
        scratch.local[g] = 0;
    }
    Buckets { codes, cells }
}

/// Decodes one `Binary` state column; NULL states are empty and skipped.
fn decode_states<S: StateCodec>(label: &str, states: &[ArrayRef]) -> Result<Vec<Option<Keyed<S>>>> {
    let Some(col) = states.first() else {
        return exec_err!("{label}: missing state column");
    };
    let col: &BinaryArray = col.as_binary::<i32>();
    col.iter().map(|b| b.map(|b| Keyed::<S>::decode(b).map_err(|e| stats_error(label, e))).transpose()).collect()
}

/// Encodes (and frees) states one by one, so large states are not held twice.
fn encode_states<S: RowState>(states: Vec<Keyed<S>>) -> ArrayRef {
    let mut b = BinaryBuilder::with_capacity(states.len(), states.len() * 64);
    let mut buf = Vec::new();
    for mut s in states {
        s.seal();
        buf.clear();
        s.encode(&mut buf);
        drop(s);
        b.append_value(&buf);
    }
    Arc::new(b.finish())
}

/// Plain aggregate (no GROUP BY, or a GROUP BY the planner runs per group).
#[derive(Debug)]
pub struct StateAccumulator<F: StateFunction> {
    function: Arc<F>,
    cell: [Keyed<F::State>; 1],
    scratch: Scratch,
}

impl<F: StateFunction> StateAccumulator<F> {
    pub fn new(function: Arc<F>) -> Self {
        StateAccumulator { function, cell: [Keyed::new()], scratch: Scratch::default() }
    }
}

impl<F: StateFunction> Accumulator for StateAccumulator<F> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        fold_batch(self.function.as_ref(), &mut self.cell, &mut self.scratch, values, None, None)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.cell[0].flush();
        self.function.finish(&mut self.cell[0])
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.cell[0].heap_size() + self.scratch.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        // DataFusion's contract: `state` consumes the intermediate state.
        let mut cell = std::mem::take(&mut self.cell[0]);
        cell.seal();
        Ok(vec![ScalarValue::Binary(Some(cell.to_bytes()))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for s in decode_states::<F::State>(self.function.label(), states)?.into_iter().flatten() {
            self.cell[0].merge_owned(s);
        }
        Ok(())
    }
}

/// `GROUP BY` aggregate: one keyed state per group.
#[derive(Debug)]
pub struct StateGroupsAccumulator<F: StateFunction> {
    function: Arc<F>,
    cells: Vec<Keyed<F::State>>,
    scratch: Scratch,
}

impl<F: StateFunction> StateGroupsAccumulator<F> {
    pub fn new(function: Arc<F>) -> Self {
        StateGroupsAccumulator { function, cells: Vec::new(), scratch: Scratch::default() }
    }

    fn ensure_groups(&mut self, total: usize) {
        if self.cells.len() < total {
            self.cells.resize_with(total, Keyed::new);
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
        fold_batch(self.function.as_ref(), &mut self.cells, &mut self.scratch, values, Some(group_indices), opt_filter)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let mut cells = emit_to.take_needed(&mut self.cells);
        let values = cells
            .iter_mut()
            .map(|c| {
                c.flush();
                self.function.finish(c)
            })
            .collect::<Result<Vec<_>>>()?;
        if values.is_empty() {
            return Ok(datafusion::arrow::array::new_empty_array(&self.function.data_type()));
        }
        ScalarValue::iter_to_array(values)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![encode_states(emit_to.take_needed(&mut self.cells))])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.ensure_groups(total_num_groups);
        let decoded = decode_states::<F::State>(self.function.label(), values)?;
        for (s, &g) in decoded.into_iter().zip(group_indices) {
            if let Some(s) = s {
                self.cells[g].merge_owned(s);
            }
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        // Each row becomes its own one-row state; a skipped row (NULL input, filtered out)
        // becomes an empty state, which merges as nothing.
        let f = self.function.as_ref();
        let nkeys = f.key_names().len();
        let rows = values.first().map_or(0, |v| v.len());
        let floats = values[nkeys..].iter().map(as_floats).collect::<Result<Vec<_>>>()?;
        let floats: Vec<&Float64Array> = floats.iter().map(|c| c.as_primitive::<Float64Type>()).collect();
        let key_columns = values[..nkeys]
            .iter()
            .zip(f.key_names())
            .map(|(a, name)| KeyColumn::new(f.label(), name, a))
            .collect::<Result<Vec<_>>>()?;
        let mut b = BinaryBuilder::with_capacity(rows, rows * 48);
        let mut buf = Vec::new();
        let mut row = vec![0.0; floats.len()];
        let empty = Keyed::<F::State>::new().to_bytes();
        for i in 0..rows {
            let selected = opt_filter.is_none_or(|f| f.is_valid(i) && f.value(i));
            if !selected || floats.iter().any(|c| c.is_null(i)) || values[..nkeys].iter().any(|k| k.is_null(i)) {
                b.append_value(&empty);
                continue;
            }
            for (j, c) in floats.iter().enumerate() {
                let x = c.value(i);
                if !x.is_finite() {
                    return Err(non_finite(f, j, x));
                }
                row[j] = x;
            }
            let key: Vec<KeyRef> = key_columns.iter().map(|k| k.at(i)).collect();
            let mut cell = Keyed::new();
            cell.entry(&key, || f.new_keyed_state(&key)).push(&row);
            buf.clear();
            cell.encode(&mut buf);
            b.append_value(&buf);
        }
        Ok(vec![Arc::new(b.finish())])
    }

    fn size(&self) -> usize {
        size_of::<Self>()
            + self.cells.iter().map(|s| size_of::<Keyed<F::State>>() + s.heap_size()).sum::<usize>()
            + self.scratch.size()
    }
}

/// Row-wise access to a key column (used where rows are handled one by one).
enum KeyColumn<'a> {
    Integer(&'a Int64Array),
    Number(&'a Float64Array),
    Text(Box<dyn Fn(usize) -> &'a str + 'a>),
}

impl<'a> KeyColumn<'a> {
    fn new(label: &str, name: &str, array: &'a ArrayRef) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Int64 => KeyColumn::Integer(array.as_primitive::<Int64Type>()),
            DataType::Float64 => KeyColumn::Number(array.as_primitive::<Float64Type>()),
            DataType::Utf8 => {
                let a = array.as_string::<i32>();
                KeyColumn::Text(Box::new(move |i| a.value(i)))
            }
            DataType::LargeUtf8 => {
                let a = array.as_string::<i64>();
                KeyColumn::Text(Box::new(move |i| a.value(i)))
            }
            DataType::Utf8View => {
                let a = array.as_string_view();
                KeyColumn::Text(Box::new(move |i| a.value(i)))
            }
            other => {
                return exec_err!(
                    "{label}: column '{name}' has type {other}; an arm or stratum must be a number or text"
                );
            }
        })
    }

    fn at(&self, i: usize) -> KeyRef<'a> {
        match self {
            KeyColumn::Integer(a) => KeyRef::Number(a.value(i) as f64),
            KeyColumn::Number(a) => KeyRef::Number(a.value(i)),
            KeyColumn::Text(f) => KeyRef::Text(f(i)),
        }
    }
}
