//! The state of a linear model: weighted moments of the model's input columns up to order two
//! (the normal equations and classical errors) and, on request, order four (heteroskedasticity-
//! robust errors in one pass).
//!
//! A linear model's design row is a linear function of `u = (1, v₁ − c₁, …, v_m − c_m)`, where
//! `v` are the input columns (raw regressors and the response) and `c` a centre. So is its
//! residual once the coefficients are known. Everything a fit needs is therefore a moment of `u`:
//!
//! ```text
//! second[a, b]       = Σ w u_a u_b                 X'WX, X'Wy, y'Wy and the residual sum of squares
//! fourth[a, b, c, d] = Σ w² u_a u_b u_c u_d        Σ w² e² x xᵀ, the "meat" of HC0/HC1 errors
//! ```
//!
//! Because `u₀ = 1`, these include all lower orders (`second[0, 0] = Σ w`). The centre is close
//! to the mean of the rows seen, so the moments are nearly central and sums of squares do not
//! cancel: a state's first batch sets it to that batch's mean, later batches are folded about it,
//! and two states are combined by moving both to their row-weighted mean centre — an exact linear
//! map of `u` (`u' = A u` with `A = [[1, 0], [−δ, I]]`), applied to each order of moments.
//!
//! With weights (WLS), the weight column comes last among the inputs; every weight must be
//! positive. `Σ ln w` is kept for the log-likelihood.
//!
//! A robust meat `Σ w² e² x xᵀ` reads only the fourth moments whose multiset splits into a pair
//! of columns `x` is made of and a pair `e` is made of: for OLS every quad but those with three
//! or four response indices, for 2SLS (`x̂` over the instruments, `e` over the regressors) about
//! a quarter fewer. A state is told these two [`FourthSides`] and keeps only those quads, which
//! is exactly the set re-centring needs, since `u₀` is on both sides.

use crate::codec::{Reader, StateCodec, Writer};
use crate::error::{Result, StatsError};
use crate::state::RowState;

use super::dots::{cross_dots, dot, products_and_sum};

/// The two sides of the fourth moments a state keeps, as flags over `u`'s indices: the quad
/// `{a, b, c, d}` is kept when it splits into a pair from `left` and a pair from `right`.
/// `u₀ = 1` is always on both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct FourthSides {
    left: Vec<bool>,
    right: Vec<bool>,
}

impl FourthSides {
    /// Every quad of `u = (1, v₁, …, v_{d−1})`.
    pub fn all(d: usize) -> Self {
        FourthSides { left: vec![true; d], right: vec![true; d] }
    }

    /// The quads made of a pair of `left` indices and a pair of `right` ones (out of `0..d`;
    /// 0 is added to both).
    pub fn new(d: usize, left: impl IntoIterator<Item = usize>, right: impl IntoIterator<Item = usize>) -> Self {
        let flags = |indices: &mut dyn Iterator<Item = usize>| {
            let mut f = vec![false; d];
            f[0] = true;
            indices.filter(|&i| i < d).for_each(|i| f[i] = true);
            f
        };
        FourthSides { left: flags(&mut left.into_iter()), right: flags(&mut right.into_iter()) }
    }

    /// Whether the multiset `q` splits into a left pair and a right pair.
    fn keeps(&self, q: [usize; 4]) -> bool {
        const SPLITS: [([usize; 2], [usize; 2]); 6] = [
            ([0, 1], [2, 3]),
            ([0, 2], [1, 3]),
            ([0, 3], [1, 2]),
            ([1, 2], [0, 3]),
            ([1, 3], [0, 2]),
            ([2, 3], [0, 1]),
        ];
        SPLITS.iter().any(|(l, r)| l.iter().all(|&i| self.left[q[i]]) && r.iter().all(|&i| self.right[q[i]]))
    }

    /// `u`'s indices in the order [`fourth_plan`] walks them: 0, the right-only ones, those on
    /// both sides, the left-only ones, then the rest. Quads a plan drops then fall outside its
    /// rectangles rather than inside them.
    fn order(&self) -> Vec<usize> {
        let d = self.left.len();
        let class = |i: usize| match (i, self.left[i], self.right[i]) {
            (0, ..) => 0,
            (_, false, true) => 1,
            (_, true, true) => 2,
            (_, true, false) => 3,
            _ => 4,
        };
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by_key(|&i| (class(i), i));
        order
    }
}

/// Moments of a linear model's inputs. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq)]
pub struct DesignMoments {
    /// Value columns (regressors' raw columns and the response), not counting the weight.
    values: usize,
    weighted: bool,
    /// The fourth moments kept, if any.
    sides: Option<FourthSides>,
    rows: u64,
    log_weight: f64,
    /// The centre `c`: near the mean of the rows seen (see the module documentation).
    centre: Vec<f64>,
    /// Packed `Σ w u_a u_b`, `a ≤ b`.
    second: Vec<f64>,
    /// Packed `Σ w² u_a u_b u_c u_d`, `a ≤ b ≤ c ≤ d` (empty without sides; 0 where the sides
    /// drop the quad).
    fourth: Vec<f64>,
}

const TAG: u8 = 4;
const VERSION: u8 = 2;

fn choose(n: usize, k: usize) -> usize {
    if k > n {
        return 0;
    }
    (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
}

/// Packed index of the multiset `a ≤ b`.
pub(super) fn pair(a: usize, b: usize) -> usize {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    b * (b + 1) / 2 + a
}

/// Packed second moments `Σ ω u_a u_b` (any weights ω) of `u = (1, v − c)` about the centre
/// `c + δ`: `u' = u − δ u₀`, so `M' = A M Aᵀ` with `A = [[1, 0], [−δ, I]]`.
pub(super) fn recentre_second(second: &[f64], delta: &[f64]) -> Vec<f64> {
    let d = delta.len() + 1;
    let m = |a: usize, b: usize| second[pair(a, b)];
    let mut out = vec![0.0; second.len()];
    for b in 0..d {
        for a in 0..=b {
            let (da, db) = (if a == 0 { 0.0 } else { delta[a - 1] }, if b == 0 { 0.0 } else { delta[b - 1] });
            out[pair(a, b)] = m(a, b) - da * m(0, b) - db * m(a, 0) + da * db * m(0, 0);
        }
    }
    out
}

/// The centre two states merge about: their centres' mean, weighted by their rows.
pub(super) fn merged_centre(a: &[f64], rows_a: u64, b: &[f64], rows_b: u64) -> Vec<f64> {
    let (na, nb) = (rows_a as f64, rows_b as f64);
    a.iter().zip(b).map(|(x, y)| x + (y - x) * nb / (na + nb)).collect()
}

/// First moments `Σ ω u_a` about the centre `c + δ` (see [`recentre_second`]).
pub(super) fn recentre_first(first: &[f64], delta: &[f64]) -> Vec<f64> {
    let mut out = first.to_vec();
    for (o, d) in out[1..].iter_mut().zip(delta) {
        *o -= d * first[0];
    }
    out
}

/// Packed index of the multiset `{a, b, c, d}` (any order): the combinatorial number system.
fn quad(mut idx: [usize; 4]) -> usize {
    idx.sort_unstable();
    idx[0] + choose(idx[1] + 1, 2) + choose(idx[2] + 2, 3) + choose(idx[3] + 3, 4)
}

/// Rows per block of [`DesignMoments::update`].
pub(super) const BLOCK: usize = 256;

/// `Σ ln wᵢ` for positive weights with one logarithm per chunk: each weight splits exactly into
/// `m · 2^e` with `m ∈ [1, 2)`; the exponents are summed as integers and the mantissas multiplied
/// (at most 2^512 over a chunk of 512, far from overflow).
pub(super) fn sum_of_logs(w: &[f64]) -> f64 {
    let mut total = 0.0;
    for chunk in w.chunks(512) {
        let mut exponent: i64 = 0;
        let mut mantissas = 1.0f64;
        for &x in chunk {
            if x.is_normal() {
                let bits = x.to_bits();
                exponent += ((bits >> 52) & 0x7ff) as i64 - 1023;
                mantissas *= f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
            } else {
                total += x.ln();
            }
        }
        total += exponent as f64 * std::f64::consts::LN_2 + mantissas.ln();
    }
    total
}

/// One group of a block's fourth moments as cross products of pair products (see
/// [`fourth_plan`]).
struct FourthGroup {
    lefts: Vec<usize>,
    rights: Vec<usize>,
    /// `quads[i · rights.len() + j]`: the packed index the product of left `i` and right `j` adds
    /// to, `None` for a quad the state does not keep.
    quads: Vec<Option<usize>>,
}

/// Every kept multiset `a ≤ b ≤ c ≤ d` once, as the product of the pairs `(a, b)` and `(c, d)`:
/// for each `c`, the pairs `(a, b)` with `b ≤ c` against the pairs `(c, d)` with `d ≥ c`, a
/// rectangle for [`cross_dots`], without the rows and columns that hold no kept quad. "≤" is in
/// the sides' [order](FourthSides::order), which keeps the rectangles nearly free of dropped
/// quads. With `skip_ones` the left pair `(0, 0)` is left out: unweighted, its product is all
/// ones and those sums are second moments.
fn fourth_plan(sides: &FourthSides, skip_ones: bool) -> Vec<FourthGroup> {
    let order = sides.order();
    let d = order.len();
    (0..d)
        .filter_map(|c| {
            let left_pairs =
                (0..=c).flat_map(|b| (0..=b).map(move |a| (a, b))).filter(|&p| !(skip_ones && p == (0, 0)));
            let quad_of = |(a, b): (usize, usize), dd: usize| {
                let q = [order[a], order[b], order[c], order[dd]];
                sides.keeps(q).then(|| quad(q))
            };
            let lefts: Vec<(usize, usize)> =
                left_pairs.filter(|&p| (c..d).any(|dd| quad_of(p, dd).is_some())).collect();
            let rights: Vec<usize> = (c..d).filter(|&dd| lefts.iter().any(|&p| quad_of(p, dd).is_some())).collect();
            (!rights.is_empty()).then(|| FourthGroup {
                quads: lefts.iter().flat_map(|&p| rights.iter().map(move |&dd| quad_of(p, dd))).collect(),
                lefts: lefts.iter().map(|&(a, b)| pair(order[a], order[b])).collect(),
                rights: rights.iter().map(|&dd| pair(order[c], order[dd])).collect(),
            })
        })
        .collect()
}

impl DesignMoments {
    /// The empty state over `values` value columns, with a weight column if `weighted`, keeping
    /// every fourth-order moment if `with_fourth`.
    pub fn new(values: usize, weighted: bool, with_fourth: bool) -> Self {
        Self::with_sides(values, weighted, with_fourth.then(|| FourthSides::all(values + 1)))
    }

    /// The empty state keeping the fourth moments `sides` selects (over `values + 1` indices),
    /// or none.
    pub fn with_sides(values: usize, weighted: bool, sides: Option<FourthSides>) -> Self {
        let d = values + 1;
        debug_assert!(sides.as_ref().is_none_or(|s| s.left.len() == d && s.right.len() == d));
        DesignMoments {
            values,
            weighted,
            rows: 0,
            log_weight: 0.0,
            centre: vec![0.0; values],
            second: vec![0.0; d * (d + 1) / 2],
            fourth: if sides.is_some() { vec![0.0; choose(d + 3, 4)] } else { Vec::new() },
            sides,
        }
    }

    /// Number of value columns.
    pub fn values(&self) -> usize {
        self.values
    }

    /// Whether the last input column is a weight.
    pub fn weighted(&self) -> bool {
        self.weighted
    }

    /// Whether fourth-order moments are kept.
    pub fn has_fourth(&self) -> bool {
        self.sides.is_some()
    }

    /// Rows seen.
    pub fn count(&self) -> u64 {
        self.rows
    }

    /// `Σ ln w` (0 without weights).
    pub fn log_weight(&self) -> f64 {
        self.log_weight
    }

    /// The centre `c` of `u = (1, v − c)`.
    pub fn centre(&self) -> &[f64] {
        &self.centre
    }

    /// `Σ w u_a u_b`.
    pub fn second(&self, a: usize, b: usize) -> f64 {
        self.second[pair(a, b)]
    }

    /// `Σ w² u_a u_b u_c u_d` (NaN when the state does not keep it).
    pub fn fourth(&self, a: usize, b: usize, c: usize, d: usize) -> f64 {
        match &self.sides {
            Some(sides) if sides.keeps([a, b, c, d]) => self.fourth[quad([a, b, c, d])],
            _ => f64::NAN,
        }
    }

    /// Folds in a batch: one slice per value column, then the weights if weighted.
    pub fn update(&mut self, columns: &[&[f64]]) -> Result<()> {
        let inputs = self.values + usize::from(self.weighted);
        if columns.len() != inputs {
            return Err(StatsError::Shape(format!("{} columns given to a design state over {inputs}", columns.len())));
        }
        let n = columns.first().map_or(0, |c| c.len());
        if columns.iter().any(|c| c.len() != n) {
            return Err(StatsError::Shape("columns of different lengths".into()));
        }
        if n == 0 {
            return Ok(());
        }
        let weights = if self.weighted { Some(columns[self.values]) } else { None };
        let mut log_weight = 0.0;
        if let Some(w) = weights {
            if let Some(&bad) = w.iter().find(|&&w| !(w > 0.0)) {
                return Err(StatsError::InvalidOption {
                    option: "weights".into(),
                    message: format!("every weight must be positive, found {bad}; filter out rows with weight ≤ 0"),
                });
            }
            log_weight = sum_of_logs(w);
        }
        // The first batch is folded about its own mean; later ones about the state's centre (a
        // shift close to their mean), so their sums add without re-centring.
        let nf = n as f64;
        let centre: Vec<f64> = if self.rows > 0 {
            self.centre.clone()
        } else {
            columns[..self.values].iter().map(|c| c.iter().sum::<f64>() / nf).collect()
        };
        let d = self.values + 1;
        let mut batch = DesignMoments {
            rows: n as u64,
            log_weight,
            centre,
            ..DesignMoments::with_sides(self.values, self.weighted, self.sides.clone())
        };
        // Blocks of rows small enough that every product of a block stays in the L1/L2 cache:
        // u (centred columns, u₀ = 1), w·u, and for fourth moments the pair products w·u_a·u_b.
        let pairs = d * (d + 1) / 2;
        let with_fourth = self.sides.is_some();
        // With fourth moments the block is halved, so that all pair products stay in L1.
        let block = if with_fourth { BLOCK / 2 } else { BLOCK }.min(n);
        let plan = self.sides.as_ref().map_or_else(Vec::new, |sides| fourth_plan(sides, !self.weighted));
        let mut sums = vec![0.0; plan.iter().map(|g| g.quads.len()).max().unwrap_or(0)];
        let mut u = vec![0.0; d * block];
        let mut wu = if weights.is_some() { vec![0.0; d * block] } else { Vec::new() };
        let mut products = if with_fourth { vec![0.0; pairs * block] } else { Vec::new() };
        let mut start = 0;
        while start < n {
            let len = block.min(n - start);
            let rows = start..start + len;
            u[..len].fill(1.0);
            for a in 1..d {
                let (column, c) = (&columns[a - 1][rows.clone()], batch.centre[a - 1]);
                for (x, v) in u[a * block..a * block + len].iter_mut().zip(column) {
                    *x = v - c;
                }
            }
            if let Some(w) = weights {
                for a in 0..d {
                    let (ua, wa) = (&u[a * block..a * block + len], &mut wu[a * block..a * block + len]);
                    wa.iter_mut().zip(ua).zip(&w[rows.clone()]).for_each(|((o, x), w)| *o = x * w);
                }
            }
            // Σ w u_a u_b: the weighted columns w·u_a (u itself without weights) dotted with u_b,
            // or, for fourth moments, summed as the pair products w·u_a·u_b are written.
            let weighted_u = if weights.is_some() { &wu } else { &u };
            for b in 0..d {
                for a in 0..=b {
                    let (x, y) = (&weighted_u[a * block..a * block + len], &u[b * block..b * block + len]);
                    batch.second[pair(a, b)] += if with_fourth {
                        products_and_sum(x, y, &mut products[pair(a, b) * block..][..len])
                    } else {
                        dot(x, y)
                    };
                }
            }
            // Σ w² u_a u_b u_c u_d = (w u_a u_b) · (w u_c u_d), over the products of pairs.
            for group in &plan {
                let sums = &mut sums[..group.quads.len()];
                cross_dots((&products, &group.lefts), (&products, &group.rights), block, len, sums);
                for (q, s) in group.quads.iter().zip(sums.iter()) {
                    if let Some(q) = *q {
                        batch.fourth[q] += s;
                    }
                }
            }
            start += len;
        }
        if let Some(sides) = self.sides.as_ref().filter(|_| !self.weighted) {
            // The sums the plan skipped: Σ 1·u_c u_d.
            for dd in 0..d {
                for c in 0..=dd {
                    if sides.keeps([0, 0, c, dd]) {
                        batch.fourth[quad([0, 0, c, dd])] = batch.second[pair(c, dd)];
                    }
                }
            }
        }
        if self.rows == 0 {
            *self = batch;
        } else {
            self.second.iter_mut().zip(&batch.second).for_each(|(a, b)| *a += b);
            self.fourth.iter_mut().zip(&batch.fourth).for_each(|(a, b)| *a += b);
            self.rows += batch.rows;
            self.log_weight += batch.log_weight;
        }
        Ok(())
    }

    /// The moments about another centre: `u' = (1, v − new)`, i.e. `u' = u − δ u₀` with
    /// `δ = new − centre`.
    fn recentred(&self, new: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let delta: Vec<f64> = new.iter().zip(&self.centre).map(|(n, c)| n - c).collect();
        let d = self.values + 1;
        // Each index of u' expands into itself (coefficient 1) and, unless 0, into 0 (−δ).
        let terms = |a: usize| -> Vec<(usize, f64)> {
            if a == 0 { vec![(0, 1.0)] } else { vec![(a, 1.0), (0, -delta[a - 1])] }
        };
        let second = recentre_second(&self.second, &delta);
        let mut fourth = vec![0.0; self.fourth.len()];
        // A kept quad expands into quads with some indices 0, which are kept too.
        if let Some(sides) = &self.sides {
            for dd in 0..d {
                for c in 0..=dd {
                    for b in 0..=c {
                        for a in 0..=b {
                            if !sides.keeps([a, b, c, dd]) {
                                continue;
                            }
                            let mut s = 0.0;
                            for &(i, x) in &terms(a) {
                                for &(j, y) in &terms(b) {
                                    for &(k, z) in &terms(c) {
                                        for &(l, t) in &terms(dd) {
                                            s += x * y * z * t * self.fourth[quad([i, j, k, l])];
                                        }
                                    }
                                }
                            }
                            fourth[quad([a, b, c, dd])] = s;
                        }
                    }
                }
            }
        }
        (second, fourth)
    }

    /// Combines another state of the same shape into this one.
    pub fn merge(&mut self, other: &DesignMoments) {
        debug_assert_eq!((self.values, self.weighted, &self.sides), (other.values, other.weighted, &other.sides));
        if other.rows == 0 {
            return;
        }
        if self.rows == 0 {
            self.clone_from(other);
            return;
        }
        let centre = merged_centre(&self.centre, self.rows, &other.centre, other.rows);
        let (sa, fa) = self.recentred(&centre);
        let (sb, fb) = other.recentred(&centre);
        self.second = sa.iter().zip(&sb).map(|(a, b)| a + b).collect();
        self.fourth = fa.iter().zip(&fb).map(|(a, b)| a + b).collect();
        self.centre = centre;
        self.rows += other.rows;
        self.log_weight += other.log_weight;
    }
}

impl StateCodec for DesignMoments {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        w.header(TAG, VERSION);
        w.u64(self.values as u64);
        w.u8(u8::from(self.weighted));
        w.u8(u8::from(self.sides.is_some()));
        if let Some(sides) = &self.sides {
            for flags in [&sides.left, &sides.right] {
                flags.iter().for_each(|&f| w.u8(u8::from(f)));
            }
        }
        w.u64(self.rows);
        w.f64s(&[self.log_weight]);
        w.f64s(&self.centre);
        w.f64s(&self.second);
        w.f64s(&self.fourth);
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, "design moments", TAG, VERSION)?;
        let values = r.u64()? as usize;
        if values > 1 << 10 {
            return Err(StatsError::CorruptState(format!("design state claims {values} columns")));
        }
        let weighted = r.u8()? != 0;
        let sides = if r.u8()? != 0 {
            let mut flags = || (0..=values).map(|_| r.u8().map(|f| f != 0)).collect::<Result<Vec<bool>>>();
            let (left, right) = (flags()?, flags()?);
            if !(left[0] && right[0]) {
                return Err(StatsError::CorruptState("design state's fourth sides leave out the constant".into()));
            }
            Some(FourthSides { left, right })
        } else {
            None
        };
        let mut s = DesignMoments::with_sides(values, weighted, sides);
        s.rows = r.u64()?;
        s.log_weight = r.f64s(1)?[0];
        s.centre = r.f64s(values)?;
        s.second = r.f64s(s.second.len())?;
        s.fourth = r.f64s(s.fourth.len())?;
        r.finish()?;
        Ok(s)
    }
}

impl RowState for DesignMoments {
    fn columns(&self) -> usize {
        self.values + usize::from(self.weighted)
    }
    fn update(&mut self, columns: &[&[f64]]) -> Result<()> {
        DesignMoments::update(self, columns)
    }
    fn push(&mut self, row: &[f64]) {
        let columns: Vec<&[f64]> = row.iter().map(std::slice::from_ref).collect();
        // A single row cannot be mis-shaped by the generic adapters; a non-positive weight is
        // reported when the batch path meets it.
        let _ = DesignMoments::update(self, &columns);
    }
    /// Many states with few rows each (a regression's clusters): each row is added to its
    /// state's second moments directly, about the state's centre (its first row's values when
    /// the state is new). Few states, or fourth moments: the default, blocked per state.
    fn update_coded(states: &mut [Self], codes: &[u32], columns: &[&[f64]]) -> Result<()> {
        if states.is_empty() || codes.len() >= 32 * states.len() || states.iter().any(|s| s.sides.is_some()) {
            return crate::state::fold_sorted(states, codes, columns);
        }
        crate::state::check_coded(states.len(), codes, columns)?;
        let (values, weighted) = (states[0].values, states[0].weighted);
        if columns.len() != values + usize::from(weighted) {
            return Err(StatsError::Shape(format!("{} columns given to a design state over {values}", columns.len())));
        }
        let weights = if weighted { Some(columns[values]) } else { None };
        if let Some(&bad) = weights.and_then(|w| w.iter().find(|&&w| !(w > 0.0))) {
            return Err(StatsError::InvalidOption {
                option: "weights".into(),
                message: format!("every weight must be positive, found {bad}; filter out rows with weight ≤ 0"),
            });
        }
        let d = values + 1;
        let mut u = vec![1.0; d];
        for (i, &code) in codes.iter().enumerate() {
            let s = &mut states[code as usize];
            if s.rows == 0 {
                for (c, column) in s.centre.iter_mut().zip(columns) {
                    *c = column[i];
                }
            }
            for a in 1..d {
                u[a] = columns[a - 1][i] - s.centre[a - 1];
            }
            let w = weights.map_or(1.0, |w| w[i]);
            for b in 0..d {
                let wb = w * u[b];
                let row = &mut s.second[b * (b + 1) / 2..b * (b + 1) / 2 + b + 1];
                for (x, ua) in row.iter_mut().zip(&u) {
                    *x += wb * ua;
                }
            }
            s.rows += 1;
            if weighted {
                s.log_weight += w.ln();
            }
        }
        Ok(())
    }
    fn merge(&mut self, other: &Self) {
        DesignMoments::merge(self, other)
    }
    fn rows(&self) -> u64 {
        self.rows
    }
    fn heap_size(&self) -> usize {
        (self.centre.capacity() + self.second.capacity() + self.fourth.capacity()) * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn coded_rows_fold_like_whole_columns() {
        // 3 states over 60 rows (the row-by-row path), weighted, against each state's rows folded
        // at once.
        let x: Vec<f64> = (0..60).map(|i| (i as f64 * 0.3).sin() * 5.0 + 100.0).collect();
        let y: Vec<f64> = (0..60).map(|i| (i as f64 * 0.11).cos()).collect();
        let w: Vec<f64> = (0..60).map(|i| 0.5 + (i % 4) as f64).collect();
        let codes: Vec<u32> = (0..60).map(|i| (i * 7 % 3) as u32).collect();
        let mut coded = vec![DesignMoments::new(2, true, false); 3];
        for chunk in (0..60).collect::<Vec<usize>>().chunks(20) {
            let pick = |c: &[f64]| chunk.iter().map(|&i| c[i]).collect::<Vec<f64>>();
            let (cx, cy, cw) = (pick(&x), pick(&y), pick(&w));
            let cc: Vec<u32> = chunk.iter().map(|&i| codes[i]).collect();
            DesignMoments::update_coded(&mut coded, &cc, &[&cx, &cy, &cw]).unwrap();
        }
        for (k, state) in coded.iter().enumerate() {
            let rows: Vec<usize> = (0..60).filter(|&i| codes[i] == k as u32).collect();
            let pick = |c: &[f64]| rows.iter().map(|&i| c[i]).collect::<Vec<f64>>();
            let mut whole = DesignMoments::new(2, true, false);
            whole.update(&[&pick(&x), &pick(&y), &pick(&w)]).unwrap();

            // The centres differ (first row vs mean); compare the moments about a common point.
            let (p, q) = (state.recentred(&[100.0, 0.0]).0, whole.recentred(&[100.0, 0.0]).0);
            for (a, b) in p.iter().zip(&q) {
                assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "state {k}: {p:?} vs {q:?}");
            }
            assert_eq!(state.count(), rows.len() as u64);
            assert!((state.log_weight() - whole.log_weight()).abs() < 1e-12);
        }
    }

    #[test]
    fn sum_of_logs_equals_the_plain_sum() {
        // Weights across the whole range, a subnormal one, and more than one chunk.
        let w: Vec<f64> =
            (0..1300).map(|i| 10f64.powf((i % 61) as f64 - 30.0) * (1.0 + (i as f64 * 0.37).sin().abs())).collect();
        let mut with_subnormal = w.clone();
        with_subnormal.push(1e-310);
        for w in [w, with_subnormal] {
            let plain: f64 = w.iter().map(|x| x.ln()).sum();
            assert!((sum_of_logs(&w) - plain).abs() <= 1e-12 * plain.abs(), "{} vs {plain}", sum_of_logs(&w));
        }
    }

    #[test]
    fn blocks_and_dots_give_the_row_by_row_moments() {
        // 1000 rows span several blocks and a ragged tail; Σ w u_a u_b by hand for (a, b) = (1, 2).
        let x: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.1).sin()).collect();
        let y: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.07).cos() * 3.0).collect();
        let w: Vec<f64> = (0..1000).map(|i| 0.5 + (i % 7) as f64).collect();
        let mut s = DesignMoments::new(2, true, true);
        s.update(&[&x, &y, &w]).unwrap();
        let (mx, my) = (x.iter().sum::<f64>() / 1000.0, y.iter().sum::<f64>() / 1000.0);
        let second: f64 = (0..1000).map(|i| w[i] * (x[i] - mx) * (y[i] - my)).sum();
        let fourth: f64 = (0..1000).map(|i| w[i] * w[i] * (x[i] - mx).powi(3) * (y[i] - my)).sum();
        assert!((s.second(1, 2) - second).abs() <= 1e-12 * second.abs().max(1.0));
        assert!((s.fourth(1, 1, 1, 2) - fourth).abs() <= 1e-12 * fourth.abs().max(1.0));
    }

    #[test]
    fn packed_indices_are_a_bijection() {
        let d = 5;
        let mut seen = vec![false; choose(d + 3, 4)];
        for l in 0..d {
            for k in 0..=l {
                for j in 0..=k {
                    for i in 0..=j {
                        let q = quad([l, i, k, j]);
                        assert!(!seen[q]);
                        seen[q] = true;
                    }
                }
            }
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn hand_computed_moments() {
        // v = 1, 2, 3 (centre 2), w = 1, 1, 2: Σw = 4, Σ w z = −1 + 0 + 2 = 1, Σ w z² = 1 + 0 + 2 = 3,
        // Σ w² z⁴ = 1 + 0 + 4 = 5, Σ w² = 6.
        let mut s = DesignMoments::new(1, true, true);
        s.update(&[&[1.0, 2.0, 3.0], &[1.0, 1.0, 2.0]]).unwrap();
        assert_eq!(s.centre(), &[2.0]);
        assert_eq!((s.second(0, 0), s.second(0, 1), s.second(1, 1)), (4.0, 1.0, 3.0));
        assert_eq!((s.fourth(0, 0, 0, 0), s.fourth(1, 1, 1, 1), s.fourth(0, 1, 1, 1)), (6.0, 5.0, 3.0));
        assert!((s.log_weight() - 2f64.ln()).abs() < 1e-15);
        let err = s.update(&[&[1.0], &[0.0]]).unwrap_err();
        assert!(err.to_string().contains("every weight must be positive, found 0"), "{err}");
    }

    #[test]
    fn sides_keep_exactly_the_quads_that_split() {
        // u = (1, y, x1, x2, t, z1, z2): x̂ over {1, x1, x2, z1, z2}, e over {1, y, x1, x2, t}. A
        // quad is dropped when 3 or 4 of its indices are in {y, t} (4 · 5 + 5 = 25 multisets) or
        // in {z1, z2} (25 more): 210 − 50 = 160 kept.
        let sides = FourthSides::new(7, [2, 3, 5, 6], [1, 2, 3, 4]);
        let all: Vec<[usize; 4]> = (0..7)
            .flat_map(|d| (0..=d).flat_map(move |c| (0..=c).flat_map(move |b| (0..=b).map(move |a| [a, b, c, d]))))
            .collect();
        assert_eq!(all.len(), 210);
        assert_eq!(all.iter().filter(|&&q| sides.keeps(q)).count(), 160);
        assert!(!sides.keeps([1, 4, 4, 0]) && !sides.keeps([5, 6, 6, 2]) && sides.keeps([1, 4, 5, 6]));
        // The plan adds to every kept quad exactly once and skips (0, 0) without weights. The
        // order keeps dropped quads out of its rectangles: none are computed without weights,
        // 4 (of 164 products) with them.
        for skip_ones in [false, true] {
            let mut hits = vec![0; 210];
            let mut computed = 0;
            for g in fourth_plan(&sides, skip_ones) {
                assert_eq!(g.quads.len(), g.lefts.len() * g.rights.len());
                computed += g.quads.len();
                g.quads.iter().flatten().for_each(|&q| hits[q] += 1);
            }
            for q in &all {
                let want = usize::from(sides.keeps(*q) && !(skip_ones && q[..2] == [0, 0]));
                assert_eq!(hits[quad(*q)], want, "{q:?}");
            }
            assert_eq!(computed, if skip_ones { 160 - 28 } else { 164 });
        }
    }

    #[test]
    fn a_state_with_sides_has_the_full_state_s_kept_quads() {
        // 700 rows (several blocks and a ragged tail) in two batches merged with a third state;
        // with and without weights.
        let n = 700;
        let col = |f: f64, s: f64| -> Vec<f64> { (0..n).map(|i| ((i as f64) * f).sin() * s + s).collect() };
        let columns = [col(0.1, 3.0), col(0.37, 1.0), col(0.05, 10.0), col(0.71, 0.5)];
        let w = col(0.13, 1.0).iter().map(|x| x + 0.1).collect::<Vec<_>>();
        let sides = FourthSides::new(5, [1, 3], [2, 3, 4]);
        for weighted in [false, true] {
            let fold = |sides: Option<FourthSides>| {
                let mut parts = [
                    DesignMoments::with_sides(4, weighted, sides.clone()),
                    DesignMoments::with_sides(4, weighted, sides),
                ];
                for (k, range) in [0..300, 300..n].into_iter().enumerate() {
                    let mut input: Vec<&[f64]> = columns.iter().map(|c| &c[range.clone()]).collect();
                    if weighted {
                        input.push(&w[range.clone()]);
                    }
                    parts[k].update(&input).unwrap();
                }
                let [mut a, b] = parts;
                a.merge(&b);
                a
            };
            let (full, kept) = (fold(Some(FourthSides::all(5))), fold(Some(sides.clone())));
            for d in 0..5 {
                for c in 0..=d {
                    for b in 0..=c {
                        for a in 0..=b {
                            let (want, got) = (full.fourth(a, b, c, d), kept.fourth(a, b, c, d));
                            if sides.keeps([a, b, c, d]) {
                                assert!(
                                    (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                                    "{a}{b}{c}{d}: {got} vs {want}"
                                );
                            } else {
                                assert!(got.is_nan(), "{a}{b}{c}{d} is not kept");
                            }
                        }
                    }
                }
            }
            assert_eq!(full.second, kept.second);
            assert_eq!(DesignMoments::decode(&kept.to_bytes()).unwrap(), kept);
        }
    }

    #[test]
    fn codec_round_trip() {
        let mut s = DesignMoments::new(2, false, true);
        s.update(&[&[1.0, 2.0, 4.0], &[0.5, -1.0, 3.0]]).unwrap();
        assert_eq!(DesignMoments::decode(&s.to_bytes()).unwrap(), s);
        assert!(DesignMoments::decode(&s.to_bytes()[..10]).is_err());
    }

    proptest! {
        /// merge(update(a), update(b)) == update(a ∪ b), fourth moments included.
        #[test]
        fn merge_equals_whole(
            rows in prop::collection::vec((-1e3f64..1e3, -50f64..50.0, 0.01f64..5.0), 2..120),
            split in 0usize..120,
        ) {
            let split = split % rows.len();
            let cols = |r: &[(f64, f64, f64)]| -> [Vec<f64>; 3] {
                [r.iter().map(|t| t.0).collect(), r.iter().map(|t| t.1).collect(), r.iter().map(|t| t.2).collect()]
            };
            let fold = |r: &[(f64, f64, f64)]| {
                let [a, b, w] = cols(r);
                let mut s = DesignMoments::new(2, true, true);
                s.update(&[&a, &b, &w]).unwrap();
                s
            };
            let mut parts = fold(&rows[..split]);
            parts.merge(&fold(&rows[split..]));
            let whole = fold(&rows);
            prop_assert_eq!(parts.count(), whole.count());
            let close = |u: f64, v: f64, scale: f64| (u - v).abs() <= 1e-9 * scale;
            let scale2 = whole.second.iter().fold(1.0f64, |m, x| m.max(x.abs()));
            for (u, v) in parts.second.iter().zip(&whole.second) {
                prop_assert!(close(*u, *v, scale2), "{} vs {}", u, v);
            }
            let scale4 = whole.fourth.iter().fold(1.0f64, |m, x| m.max(x.abs()));
            for (u, v) in parts.fourth.iter().zip(&whole.fourth) {
                prop_assert!(close(*u, *v, scale4), "{} vs {}", u, v);
            }
        }
    }
}
