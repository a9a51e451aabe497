//! States split by key: one state per arm of an experiment, or per (arm, stratum) cell.
//!
//! A two-sample test needs the sufficient statistics of each arm separately, and a
//! post-stratified one those of each arm within each stratum. [`Keyed`] holds one state per
//! distinct key — a short tuple of [`KeyValue`]s such as `(treatment = 1, x_cat1 = 'C')` — kept
//! sorted by key, so the first arm is the control arm by default and results list arms in a
//! stable order. Keyed states merge entry by entry, and encode as the list of their entries, so
//! they cross partitions like any other state.
//!
//! Lookups happen once per (batch, key) — the front end buckets a batch's rows by key first —
//! so the sorted vector is both the simplest and the fastest container for the handful of arms
//! and strata an experiment has.

use std::cmp::Ordering;

use crate::codec::{Reader, StateCodec, Writer};
use crate::error::{Result, StatsError};
use crate::state::RowState;

/// One component of a key: the value of an arm or stratum column.
///
/// Numbers of every SQL type arrive as `f64` (exact for integers up to 2⁵³), text as text.
#[derive(Debug, Clone)]
pub enum KeyValue {
    /// A numeric value; `-0.0` is stored as `0.0`.
    Number(f64),
    /// A text value.
    Text(String),
}

/// A borrowed [`KeyValue`], for lookups without allocating.
#[derive(Debug, Clone, Copy)]
pub enum KeyRef<'a> {
    Number(f64),
    Text(&'a str),
}

impl KeyValue {
    /// A numeric key, with `-0.0` normalised to `0.0`.
    pub fn number(x: f64) -> KeyValue {
        KeyValue::Number(if x == 0.0 { 0.0 } else { x })
    }

    /// The borrowed form.
    pub fn as_ref(&self) -> KeyRef<'_> {
        match self {
            KeyValue::Number(x) => KeyRef::Number(*x),
            KeyValue::Text(s) => KeyRef::Text(s),
        }
    }
}

impl KeyRef<'_> {
    /// The owned form.
    pub fn to_value(self) -> KeyValue {
        match self {
            KeyRef::Number(x) => KeyValue::number(x),
            KeyRef::Text(s) => KeyValue::Text(s.to_owned()),
        }
    }

    /// Total order: numbers (by `f64::total_cmp`, so NaN sorts last among them) before text.
    pub fn cmp(self, other: KeyRef<'_>) -> Ordering {
        match (self, other) {
            (KeyRef::Number(a), KeyRef::Number(b)) => {
                let norm = |x: f64| if x == 0.0 { 0.0 } else { x };
                norm(a).total_cmp(&norm(b))
            }
            (KeyRef::Number(_), KeyRef::Text(_)) => Ordering::Less,
            (KeyRef::Text(_), KeyRef::Number(_)) => Ordering::Greater,
            (KeyRef::Text(a), KeyRef::Text(b)) => a.cmp(b),
        }
    }
}

impl PartialEq for KeyValue {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for KeyValue {}
impl PartialOrd for KeyValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for KeyValue {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_ref().cmp(other.as_ref())
    }
}

/// How a key value is shown: integers without a decimal point (`0`, `1`), other numbers in
/// their shortest round-trip form, text as is.
impl std::fmt::Display for KeyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyValue::Number(x) if x.fract() == 0.0 && x.abs() < 1e15 => write!(f, "{}", *x as i64),
            KeyValue::Number(x) => write!(f, "{x}"),
            KeyValue::Text(s) => f.write_str(s),
        }
    }
}

fn cmp_keys(a: &[KeyValue], b: &[KeyRef<'_>]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.as_ref().cmp(*y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    a.len().cmp(&b.len())
}

/// One state per distinct key, sorted by key. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq)]
pub struct Keyed<S> {
    entries: Vec<(Vec<KeyValue>, S)>,
}

impl<S> Default for Keyed<S> {
    fn default() -> Self {
        Keyed { entries: Vec::new() }
    }
}

impl<S> Keyed<S> {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entries in key order.
    pub fn entries(&self) -> &[(Vec<KeyValue>, S)] {
        &self.entries
    }

    /// The entries in key order, mutably (keys cannot change).
    pub fn states_mut(&mut self) -> impl Iterator<Item = (&[KeyValue], &mut S)> {
        self.entries.iter_mut().map(|(k, s)| (k.as_slice(), s))
    }

    /// Consumes the container, yielding its entries in key order.
    pub fn into_entries(self) -> Vec<(Vec<KeyValue>, S)> {
        self.entries
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key has been seen.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The state of `key`, if any.
    pub fn get(&self, key: &[KeyRef<'_>]) -> Option<&S> {
        self.entries.binary_search_by(|(k, _)| cmp_keys(k, key)).ok().map(|i| &self.entries[i].1)
    }

    /// The state of `key`, created by `make` when the key is new.
    pub fn entry(&mut self, key: &[KeyRef<'_>], make: impl FnOnce() -> S) -> &mut S {
        let i = match self.entries.binary_search_by(|(k, _)| cmp_keys(k, key)) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (key.iter().map(|k| k.to_value()).collect(), make()));
                i
            }
        };
        &mut self.entries[i].1
    }
}

impl<S: RowState> Keyed<S> {
    /// Merges `other` entry by entry; keys new to `self` are copied.
    pub fn merge(&mut self, other: &Keyed<S>) {
        for (key, state) in &other.entries {
            match self.entries.binary_search_by(|(k, _)| k.as_slice().cmp(key.as_slice())) {
                Ok(i) => self.entries[i].1.merge(state),
                Err(i) => self.entries.insert(i, (key.clone(), state.clone())),
            }
        }
    }

    /// Merges `other` entry by entry, moving its states where the key is new to `self`.
    pub fn merge_owned(&mut self, other: Keyed<S>) {
        for (key, state) in other.entries {
            match self.entries.binary_search_by(|(k, _)| k.as_slice().cmp(key.as_slice())) {
                Ok(i) => self.entries[i].1.merge(&state),
                Err(i) => self.entries.insert(i, (key, state)),
            }
        }
    }

    /// Rows over all keys.
    pub fn rows(&self) -> u64 {
        self.entries.iter().map(|(_, s)| s.rows()).sum()
    }

    /// Prepares every state for encoding (see [`RowState::seal`]).
    pub fn seal(&mut self) {
        for (_, s) in &mut self.entries {
            s.seal();
        }
    }

    /// Approximate heap size in bytes.
    pub fn heap_size(&self) -> usize {
        self.entries
            .iter()
            .map(|(k, s)| {
                size_of::<(Vec<KeyValue>, S)>()
                    + k.capacity() * size_of::<KeyValue>()
                    + k.iter().map(|v| if let KeyValue::Text(t) = v { t.capacity() } else { 0 }).sum::<usize>()
                    + s.heap_size()
            })
            .sum()
    }
}

const TAG: u8 = 2;
const VERSION: u8 = 1;
const NUMBER: u8 = 0;
const TEXT: u8 = 1;

impl<S: StateCodec> StateCodec for Keyed<S> {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        w.header(TAG, VERSION);
        w.u64(self.entries.len() as u64);
        for (key, state) in &self.entries {
            let mut w = Writer(out);
            w.u64(key.len() as u64);
            for v in key {
                match v {
                    KeyValue::Number(x) => {
                        w.u8(NUMBER);
                        w.f64s(&[*x]);
                    }
                    KeyValue::Text(s) => {
                        w.u8(TEXT);
                        w.bytes(s.as_bytes());
                    }
                }
            }
            // The state's length, patched in after it is written in place (no copy of large
            // states such as kept values).
            let at = out.len();
            out.extend_from_slice(&0u64.to_le_bytes());
            state.encode(out);
            let len = (out.len() - at - 8) as u64;
            out[at..at + 8].copy_from_slice(&len.to_le_bytes());
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let corrupt = |m: &str| StatsError::CorruptState(format!("keyed state: {m}"));
        let mut r = Reader::new(bytes, "keyed", TAG, VERSION)?;
        let n = r.u64()?;
        let mut entries: Vec<(Vec<KeyValue>, S)> = Vec::new();
        for _ in 0..n {
            let arity = r.u64()?;
            if arity > 64 {
                return Err(corrupt("impossible key length"));
            }
            let mut key = Vec::with_capacity(arity as usize);
            for _ in 0..arity {
                key.push(match r.u8()? {
                    NUMBER => KeyValue::number(r.f64s(1)?[0]),
                    TEXT => {
                        KeyValue::Text(String::from_utf8(r.bytes()?.to_vec()).map_err(|_| corrupt("key is not UTF-8"))?)
                    }
                    _ => return Err(corrupt("unknown key kind")),
                });
            }
            let state = S::decode(r.bytes()?)?;
            if entries.last().is_some_and(|(k, _)| *k >= key) {
                return Err(corrupt("keys out of order"));
            }
            entries.push((key, state));
        }
        r.finish()?;
        Ok(Keyed { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CoMoments;

    fn cell(values: &[f64]) -> CoMoments {
        let mut m = CoMoments::new(1);
        m.update(&[values]).unwrap();
        m
    }

    #[test]
    fn entries_stay_sorted_and_merge_by_key() {
        let mut a: Keyed<CoMoments> = Keyed::new();
        a.entry(&[KeyRef::Number(1.0)], || CoMoments::new(1)).merge(&cell(&[1.0, 3.0]));
        a.entry(&[KeyRef::Number(0.0)], || CoMoments::new(1)).merge(&cell(&[2.0]));
        let mut b: Keyed<CoMoments> = Keyed::new();
        b.entry(&[KeyRef::Number(-0.0)], || CoMoments::new(1)).merge(&cell(&[4.0]));
        b.entry(&[KeyRef::Text("x")], || CoMoments::new(1)).merge(&cell(&[5.0]));
        a.merge(&b);
        let keys: Vec<String> = a.entries().iter().map(|(k, _)| k[0].to_string()).collect();
        assert_eq!(keys, ["0", "1", "x"]);
        let zero = a.get(&[KeyRef::Number(0.0)]).unwrap();
        assert_eq!((zero.count(), zero.means()[0]), (2, 3.0));
        assert_eq!(a.rows(), 5);
    }

    #[test]
    fn display_of_keys() {
        assert_eq!(KeyValue::number(-0.0).to_string(), "0");
        assert_eq!(KeyValue::number(2.5).to_string(), "2.5");
        assert_eq!(KeyValue::Text("B".into()).to_string(), "B");
    }

    #[test]
    fn codec_round_trip_and_corruption() {
        let mut a: Keyed<CoMoments> = Keyed::new();
        a.entry(&[KeyRef::Number(1.0), KeyRef::Text("C")], || CoMoments::new(1)).merge(&cell(&[1.0, 2.0]));
        a.entry(&[KeyRef::Number(0.0), KeyRef::Text("Ä")], || CoMoments::new(1)).merge(&cell(&[7.0]));
        let bytes = a.to_bytes();
        assert_eq!(Keyed::<CoMoments>::decode(&bytes).unwrap(), a);
        for cut in [1, 5, bytes.len() - 1] {
            assert!(matches!(Keyed::<CoMoments>::decode(&bytes[..cut]), Err(StatsError::CorruptState(_))));
        }
    }
}
