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
//! and strata an experiment has. Keys can also be many (a regression's clusters, thousands to
//! millions): a key new to the vector is first kept in a hashed *pending* list and moved into the
//! sorted vector in sorted runs, when the list has grown by a fraction of the vector or before
//! the entries are read ([`Keyed::flush`]), so that n keys cost O(n log n) rather than O(n²).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::codec::{Reader, StateCodec, Writer};
use crate::error::{Result, StatsError};
use crate::state::RowState;

/// One component of a key: the value of an arm or stratum column.
///
/// Numbers of every SQL type arrive as `f64` (exact for integers up to 2⁵³), text as text. In
/// JSON a key value is a number or a string.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
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

/// Consistent with equality: numbers by the bits of their normalised value, text by its bytes.
impl Hash for KeyValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            KeyValue::Number(x) => {
                state.write_u8(0);
                state.write_u64(if *x == 0.0 { 0.0f64 } else { *x }.to_bits());
            }
            KeyValue::Text(t) => {
                state.write_u8(1);
                t.hash(state);
            }
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
    /// Sorted by key.
    entries: Vec<(Vec<KeyValue>, S)>,
    /// Keys not yet in `entries`, in arrival order, and where each is in it.
    pending: Vec<(Vec<KeyValue>, S)>,
    index: HashMap<Vec<KeyValue>, usize>,
    /// Where each key of `entries` is, once there are more than [`SMALL`] (else binary search).
    sorted_index: HashMap<Vec<KeyValue>, usize>,
}

/// Up to this many sorted entries, lookups are binary searches and new keys go straight in.
const SMALL: usize = 64;

impl<S> Default for Keyed<S> {
    fn default() -> Self {
        Keyed { entries: Vec::new(), pending: Vec::new(), index: HashMap::new(), sorted_index: HashMap::new() }
    }
}

impl<S> Keyed<S> {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// A container of `entries`, which must be in strictly ascending key order (as
    /// [`Keyed::into_entries`] yields them, or any run of them with a common prefix removed).
    pub fn from_sorted(entries: Vec<(Vec<KeyValue>, S)>) -> Self {
        debug_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0), "Keyed::from_sorted needs sorted keys");
        let mut k = Keyed { entries, ..Keyed::default() };
        k.reindex();
        k
    }

    /// The entries in key order. Call [`Keyed::flush`] first if keys were added since the
    /// last flush (the mutating methods that read entries do it themselves).
    pub fn entries(&self) -> &[(Vec<KeyValue>, S)] {
        debug_assert!(self.pending.is_empty(), "Keyed::entries before flush");
        &self.entries
    }

    /// The entries in key order, mutably (keys cannot change).
    pub fn states_mut(&mut self) -> impl Iterator<Item = (&[KeyValue], &mut S)> {
        self.flush();
        self.entries.iter_mut().map(|(k, s)| (k.as_slice(), s))
    }

    /// Consumes the container, yielding its entries in key order.
    pub fn into_entries(mut self) -> Vec<(Vec<KeyValue>, S)> {
        self.flush();
        self.entries
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.entries.len() + self.pending.len()
    }

    /// Whether no key has been seen.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The state of `key`, if any.
    pub fn get(&self, key: &[KeyRef<'_>]) -> Option<&S> {
        match self.entries.binary_search_by(|(k, _)| cmp_keys(k, key)) {
            Ok(i) => Some(&self.entries[i].1),
            Err(_) if self.pending.is_empty() => None,
            Err(_) => {
                let owned: Vec<KeyValue> = key.iter().map(|k| k.to_value()).collect();
                self.index.get(&owned).map(|&i| &self.pending[i].1)
            }
        }
    }

    /// The state of `key`, created by `make` when the key is new.
    pub fn entry(&mut self, key: &[KeyRef<'_>], make: impl FnOnce() -> S) -> &mut S {
        if self.entries.len() <= SMALL {
            if let Ok(i) = self.entries.binary_search_by(|(k, _)| cmp_keys(k, key)) {
                return &mut self.entries[i].1;
            }
        }
        let owned: Vec<KeyValue> = key.iter().map(|k| k.to_value()).collect();
        if self.entries.len() > SMALL
            && let Some(&i) = self.sorted_index.get(&owned)
        {
            return &mut self.entries[i].1;
        }
        if let Some(&i) = self.index.get(&owned) {
            return &mut self.pending[i].1;
        }
        // A new key: straight into the vector while it is small, else pending.
        if self.entries.len() < SMALL && self.pending.is_empty() {
            let i = self.entries.binary_search_by(|(k, _)| k.as_slice().cmp(&owned)).unwrap_err();
            self.entries.insert(i, (owned, make()));
            return &mut self.entries[i].1;
        }
        self.index.insert(owned.clone(), self.pending.len());
        self.pending.push((owned, make()));
        let i = self.pending.len() - 1;
        &mut self.pending[i].1
    }

    /// Moves pending keys into the sorted vector (one sort and one linear merge).
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.index.clear();
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let old = std::mem::take(&mut self.entries);
        self.entries.reserve(old.len() + pending.len());
        let (mut a, mut b) = (old.into_iter().peekable(), pending.into_iter().peekable());
        loop {
            let take_a = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => x.0 < y.0,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_a { a.next() } else { b.next() };
            self.entries.extend(next);
        }
        self.reindex();
    }

    /// Rebuilds the hash index of the sorted entries (kept only when they are many).
    fn reindex(&mut self) {
        self.sorted_index.clear();
        if self.entries.len() > SMALL {
            self.sorted_index.extend(self.entries.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)));
        }
    }

    /// Flushes when the pending keys outnumber the sorted ones, so the sorted vector at least
    /// doubles each time (n new keys cost O(n log n) in all); the front ends call this after each
    /// batch.
    pub fn tidy(&mut self) {
        if self.pending.len() > SMALL && self.pending.len() > self.entries.len() {
            self.flush();
        }
    }
}

impl<S: RowState> Keyed<S> {
    /// Merges `other` entry by entry; keys new to `self` are copied.
    pub fn merge(&mut self, other: &Keyed<S>) {
        for (key, state) in other.entries.iter().chain(&other.pending) {
            let refs: Vec<KeyRef<'_>> = key.iter().map(KeyValue::as_ref).collect();
            let mut fresh = None;
            let target = self.entry(&refs, || {
                fresh = Some(());
                state.clone()
            });
            if fresh.is_none() {
                target.merge(state);
            }
        }
        self.flush();
    }

    /// Merges `other` entry by entry, moving its states where the key is new to `self`.
    pub fn merge_owned(&mut self, mut other: Keyed<S>) {
        other.flush();
        self.flush();
        if self.entries.is_empty() {
            *self = other;
            return;
        }
        // One linear merge of the two sorted vectors.
        let old = std::mem::take(&mut self.entries);
        self.entries.reserve(old.len() + other.entries.len());
        let (mut a, mut b) = (old.into_iter().peekable(), other.entries.into_iter().peekable());
        loop {
            let order = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => x.0.cmp(&y.0),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => break,
            };
            match order {
                Ordering::Less => self.entries.extend(a.next()),
                Ordering::Greater => self.entries.extend(b.next()),
                Ordering::Equal => {
                    let (mut x, y) = (a.next().expect("peeked"), b.next().expect("peeked"));
                    x.1.merge(&y.1);
                    self.entries.push(x);
                }
            }
        }
        self.reindex();
    }

    /// Rows over all keys.
    pub fn rows(&self) -> u64 {
        self.entries.iter().chain(&self.pending).map(|(_, s)| s.rows()).sum()
    }

    /// Sorts pending keys in and prepares every state for encoding (see [`RowState::seal`]).
    pub fn seal(&mut self) {
        self.flush();
        for (_, s) in &mut self.entries {
            s.seal();
        }
    }

    /// Approximate heap size in bytes: exact for up to 256 keys, else from an even sample of 256
    /// (the engine asks after every batch, so this must not walk a million clusters each time).
    pub fn heap_size(&self) -> usize {
        let one = |(k, s): &(Vec<KeyValue>, S)| {
            size_of::<(Vec<KeyValue>, S)>()
                + k.capacity() * size_of::<KeyValue>()
                + k.iter().map(|v| if let KeyValue::Text(t) = v { t.capacity() } else { 0 }).sum::<usize>()
                + s.heap_size()
        };
        let n = self.len();
        let index = (self.sorted_index.capacity() + self.index.capacity()) * (size_of::<(Vec<KeyValue>, usize)>() + 16);
        if n <= 256 {
            return self.entries.iter().chain(&self.pending).map(one).sum::<usize>() + index;
        }
        let step = n / 256;
        let sample: usize = self.entries.iter().chain(&self.pending).step_by(step).take(256).map(one).sum();
        sample * n / 256 + index
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
        // Normally sealed (flushed) before encoding; otherwise the pending keys are sorted in here.
        let mut all: Vec<&(Vec<KeyValue>, S)> = self.entries.iter().collect();
        if !self.pending.is_empty() {
            all.extend(&self.pending);
            all.sort_by(|a, b| a.0.cmp(&b.0));
        }
        w.u64(all.len() as u64);
        for (key, state) in all {
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
        let mut keyed = Keyed { entries, ..Keyed::default() };
        keyed.reindex();
        Ok(keyed)
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
    fn many_keys_go_through_pending_and_come_out_sorted() {
        // 5,000 keys in a scrambled order, each seen twice, in two containers merged both ways.
        let order: Vec<u64> = (0..5000u64).map(|i| (i * 7919) % 5000).collect();
        let mut a: Keyed<CoMoments> = Keyed::new();
        let mut b: Keyed<CoMoments> = Keyed::new();
        for (n, &k) in order.iter().chain(&order).enumerate() {
            let target = if n % 3 == 0 { &mut b } else { &mut a };
            let text = format!("k{k}");
            target
                .entry(&[KeyRef::Number((k % 7) as f64), KeyRef::Text(&text)], || CoMoments::new(1))
                .push(&[k as f64]);
            target.tidy();
        }
        let key = [KeyRef::Number(1.0), KeyRef::Text("k1")];
        let seen = |k: &Keyed<CoMoments>| k.get(&key).map_or(0, |s| s.count());
        assert_eq!(seen(&a) + seen(&b), 2);
        let bytes = a.to_bytes(); // encodes pending keys in order too
        let mut c = a.clone();
        c.merge(&b);
        a.merge_owned(b);
        a.flush();
        assert_eq!(a.entries(), c.entries());
        assert_eq!(Keyed::<CoMoments>::decode(&bytes).unwrap().len(), a.len());
        assert_eq!(a.len(), 5000);
        assert_eq!(a.rows(), 10000);
        assert!(a.entries().windows(2).all(|w| w[0].0 < w[1].0));
        assert!(a.entries().iter().all(|(k, s)| s.count() == 2 && format!("k{}", s.means()[0]) == k[1].to_string()));
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
