//! Count, means and centred cross-products of k columns: the sufficient statistics of means,
//! variances and covariances, and so of every delta-method computation.
//!
//! The state keeps centred co-moments `C[j][l] = Σ (x_j - mean_j)(x_l - mean_l)` rather than raw
//! sums `Σ x_j x_l`, so variances stay accurate when means are large compared with spreads.
//! A batch is folded in with two cache-resident passes (batch means, then centred products),
//! and two states are combined with the exact pairwise formula of Chan, Golub and LeVeque:
//!
//! ```text
//! n = n_a + n_b,   δ = mean_b - mean_a,   mean = mean_a + δ n_b / n,
//! C = C_a + C_b + δ δᵀ n_a n_b / n
//! ```
//!
//! A single row can also be pushed (Welford's update). A batch whose rows belong to different
//! states (arms, groups) is folded into all of them at once by [`CoMoments::update_coded`]: the
//! same two passes, each row adding into its own state's sums, with no reordering of the rows.

use crate::codec::{Reader, StateCodec, Writer};
use crate::error::{Result, StatsError};
use crate::state::check_coded;
use crate::sum::{sum, sum_centered, sum_centered_product};

/// Co-moments of `k` columns. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq)]
pub struct CoMoments {
    n: u64,
    mean: Vec<f64>,
    /// Upper triangle of C including the diagonal, row by row: (0,0) (0,1) … (0,k-1) (1,1) …
    comoment: Vec<f64>,
}

const TAG: u8 = 1;
const VERSION: u8 = 1;

fn packed_len(k: usize) -> usize {
    k * (k + 1) / 2
}

impl CoMoments {
    /// The empty state over `k` columns.
    pub fn new(k: usize) -> Self {
        CoMoments { n: 0, mean: vec![0.0; k], comoment: vec![0.0; packed_len(k)] }
    }

    /// Number of columns.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Number of rows seen.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Column means (zeros while empty).
    pub fn means(&self) -> &[f64] {
        &self.mean
    }

    fn index(&self, j: usize, l: usize) -> usize {
        let (j, l) = if j <= l { (j, l) } else { (l, j) };
        let k = self.dim();
        j * k - j * (j + 1) / 2 + l
    }

    /// The centred cross-product `Σ (x_j - mean_j)(x_l - mean_l)`.
    pub fn comoment(&self, j: usize, l: usize) -> f64 {
        self.comoment[self.index(j, l)]
    }

    /// Sample covariance (divisor n − 1) of columns `j` and `l`; NaN with fewer than two rows.
    pub fn covariance(&self, j: usize, l: usize) -> f64 {
        if self.n < 2 { f64::NAN } else { self.comoment(j, l) / (self.n - 1) as f64 }
    }

    /// The full k×k sample covariance matrix, row-major.
    pub fn covariance_matrix(&self) -> Vec<f64> {
        let k = self.dim();
        let mut out = vec![0.0; k * k];
        for j in 0..k {
            for l in 0..k {
                out[j * k + l] = self.covariance(j, l);
            }
        }
        out
    }

    /// Folds in one row (Welford's update). `row.len()` must equal [`Self::dim`].
    #[inline]
    pub fn push(&mut self, row: &[f64]) {
        debug_assert_eq!(row.len(), self.dim());
        self.n += 1;
        let inv_n = 1.0 / self.n as f64;
        let k = self.dim();
        // δ_j before the mean moves; C += δ_old ⊗ (x − mean_new) = δ_old δ_oldᵀ (n−1)/n.
        let mut p = 0;
        let scale = (self.n - 1) as f64 * inv_n;
        for j in 0..k {
            let dj = row[j] - self.mean[j];
            for l in j..k {
                let dl = row[l] - self.mean[l];
                self.comoment[p] += dj * dl * scale;
                p += 1;
            }
        }
        for j in 0..k {
            self.mean[j] += (row[j] - self.mean[j]) * inv_n;
        }
    }

    /// Folds in a batch given as one slice per column, all of the same length, without NULLs.
    pub fn update(&mut self, columns: &[&[f64]]) -> Result<()> {
        if columns.len() != self.dim() {
            return Err(StatsError::Shape(format!("{} columns given to a state over {}", columns.len(), self.dim())));
        }
        let m = columns.first().map_or(0, |c| c.len());
        if columns.iter().any(|c| c.len() != m) {
            return Err(StatsError::Shape("columns of different lengths".into()));
        }
        if m == 0 {
            return Ok(());
        }
        let k = self.dim();
        let mf = m as f64;
        // Corrected two-pass: a first mean, then the residual sums r_j = Σ(x_j − m_j) that
        // remove its rounding error from both the mean and the cross-products.
        let first: Vec<f64> = columns.iter().map(|c| sum(c) / mf).collect();
        let residual: Vec<f64> = columns.iter().zip(&first).map(|(c, &mj)| sum_centered(c, mj)).collect();
        let mut comoment = Vec::with_capacity(packed_len(k));
        for j in 0..k {
            for l in j..k {
                let p = sum_centered_product(columns[j], first[j], columns[l], first[l]);
                comoment.push(p - residual[j] * residual[l] / mf);
            }
        }
        let mean: Vec<f64> = first.iter().zip(&residual).map(|(mj, rj)| mj + rj / mf).collect();
        self.merge(&CoMoments { n: m as u64, mean, comoment });
        Ok(())
    }

    /// Folds a batch into several states at once: row `i` goes to `states[codes[i]]` (see
    /// [`RowState::update_coded`](crate::RowState::update_coded)). Same corrected two-pass
    /// algorithm as [`Self::update`], with per-state sums.
    pub fn update_coded(states: &mut [CoMoments], codes: &[u32], columns: &[&[f64]]) -> Result<()> {
        check_coded(states.len(), codes, columns)?;
        if let Some(s) = states.iter().find(|s| s.dim() != columns.len()) {
            return Err(StatsError::Shape(format!("{} columns given to a state over {}", columns.len(), s.dim())));
        }
        // Fixed widths let the compiler keep a row in registers; the usual metrics (a mean, a
        // ratio, a ratio with one to four covariates) need at most six columns.
        match columns.len() {
            0 => Ok(()),
            1 => Ok(fold_coded::<1>(states, codes, columns)),
            2 => Ok(fold_coded::<2>(states, codes, columns)),
            3 => Ok(fold_coded::<3>(states, codes, columns)),
            4 => Ok(fold_coded::<4>(states, codes, columns)),
            5 => Ok(fold_coded::<5>(states, codes, columns)),
            6 => Ok(fold_coded::<6>(states, codes, columns)),
            _ => crate::state::fold_sorted(states, codes, columns),
        }
    }

    /// Combines another state over the same columns into this one.
    pub fn merge(&mut self, other: &CoMoments) {
        debug_assert_eq!(self.dim(), other.dim());
        if other.n == 0 {
            return;
        }
        if self.n == 0 {
            self.clone_from(other);
            return;
        }
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let k = self.dim();
        let delta: Vec<f64> = (0..k).map(|j| other.mean[j] - self.mean[j]).collect();
        let w = na * nb / n;
        let mut p = 0;
        for j in 0..k {
            for l in j..k {
                self.comoment[p] += other.comoment[p] + delta[j] * delta[l] * w;
                p += 1;
            }
        }
        for j in 0..k {
            self.mean[j] += delta[j] * nb / n;
        }
        self.n += other.n;
    }
}

/// Interleaved accumulator banks of [`fold_coded`]: row `i` adds into bank `i % BANKS`, so runs
/// of rows of one state do not wait on each other's additions.
const BANKS: usize = 2;

/// The kernel of [`CoMoments::update_coded`] for `K` columns; codes are already checked.
fn fold_coded<const K: usize>(states: &mut [CoMoments], codes: &[u32], columns: &[&[f64]]) {
    let n = codes.len();
    let buckets = states.len();
    let cols: [&[f64]; K] = std::array::from_fn(|j| &columns[j][..n]);
    let slot = |i: usize, code: u32| (i % BANKS) * buckets + code as usize;

    // Pass 1: counts and sums per state.
    let mut count = vec![0u64; BANKS * buckets];
    let mut total = vec![[0.0f64; K]; BANKS * buckets];
    for (i, &code) in codes.iter().enumerate() {
        let s = slot(i, code);
        count[s] += 1;
        let t = &mut total[s];
        for j in 0..K {
            t[j] += cols[j][i];
        }
    }
    let mut rows = vec![0u64; buckets];
    let mut first = vec![[0.0f64; K]; buckets];
    for b in 0..buckets {
        let mut sum = [0.0f64; K];
        for bank in 0..BANKS {
            let s = bank * buckets + b;
            rows[b] += count[s];
            for j in 0..K {
                sum[j] += total[s][j];
            }
        }
        if rows[b] > 0 {
            first[b] = sum.map(|x| x / rows[b] as f64);
        }
    }

    // Pass 2: residuals Σ(x − m) and centred products Σ(x_j − m_j)(x_l − m_l) per state.
    let width = K * (K + 1) / 2;
    let mut residual = vec![[0.0f64; K]; BANKS * buckets];
    let mut product = vec![0.0f64; BANKS * buckets * width];
    for (i, &code) in codes.iter().enumerate() {
        let s = slot(i, code);
        let m = &first[code as usize];
        let d: [f64; K] = std::array::from_fn(|j| cols[j][i] - m[j]);
        let r = &mut residual[s];
        for j in 0..K {
            r[j] += d[j];
        }
        let p = &mut product[s * width..(s + 1) * width];
        let mut q = 0;
        for j in 0..K {
            for l in j..K {
                p[q] += d[j] * d[l];
                q += 1;
            }
        }
    }

    for (b, state) in states.iter_mut().enumerate() {
        let mut r = [0.0f64; K];
        let mut comoment = vec![0.0f64; width];
        for bank in 0..BANKS {
            let s = bank * buckets + b;
            for j in 0..K {
                r[j] += residual[s][j];
            }
            for (c, p) in comoment.iter_mut().zip(&product[s * width..(s + 1) * width]) {
                *c += p;
            }
        }
        fold_sums(state, rows[b], &first[b], &r, comoment);
    }
}

/// Merges one state's batch sums into it: `rows` rows with first means `first`, residuals
/// `r = Σ(x − first)` and centred products `product` (packed, about `first`).
fn fold_sums(state: &mut CoMoments, rows: u64, first: &[f64], r: &[f64], mut product: Vec<f64>) {
    if rows == 0 {
        return;
    }
    let k = first.len();
    let mf = rows as f64;
    let mut q = 0;
    for j in 0..k {
        for l in j..k {
            product[q] -= r[j] * r[l] / mf;
            q += 1;
        }
    }
    let mean = (0..k).map(|j| first[j] + r[j] / mf).collect();
    state.merge(&CoMoments { n: rows, mean, comoment: product });
}

impl StateCodec for CoMoments {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        w.header(TAG, VERSION);
        w.u64(self.dim() as u64);
        w.u64(self.n);
        w.f64s(&self.mean);
        w.f64s(&self.comoment);
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, "co-moments", TAG, VERSION)?;
        let k = r.u64()? as usize;
        if k > 1 << 16 {
            return Err(StatsError::CorruptState(format!("co-moments state claims {k} columns")));
        }
        let n = r.u64()?;
        let mean = r.f64s(k)?;
        let comoment = r.f64s(packed_len(k))?;
        r.finish()?;
        Ok(CoMoments { n, mean, comoment })
    }
}

impl crate::state::RowState for CoMoments {
    fn columns(&self) -> usize {
        self.dim()
    }
    fn update(&mut self, columns: &[&[f64]]) -> Result<()> {
        CoMoments::update(self, columns)
    }
    fn push(&mut self, row: &[f64]) {
        CoMoments::push(self, row)
    }
    fn update_coded(states: &mut [Self], codes: &[u32], columns: &[&[f64]]) -> Result<()> {
        CoMoments::update_coded(states, codes, columns)
    }
    fn merge(&mut self, other: &Self) {
        CoMoments::merge(self, other)
    }
    fn rows(&self) -> u64 {
        self.n
    }
    fn heap_size(&self) -> usize {
        (self.mean.capacity() + self.comoment.capacity()) * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300)
    }

    #[test]
    fn hand_computed_moments() {
        // x = 1,2,3,4 ; y = 2,4,6,9 → means 2.5, 5.25
        // Σ(x−2.5)² = 5 ; Σ(x−2.5)(y−5.25) = (−1.5)(−3.25)+(−.5)(−1.25)+(.5)(.75)+(1.5)(3.75) = 11.5
        let mut s = CoMoments::new(2);
        s.update(&[&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 6.0, 9.0]]).unwrap();
        assert_eq!(s.count(), 4);
        assert_eq!(s.means(), &[2.5, 5.25]);
        assert_eq!(s.comoment(0, 0), 5.0);
        assert_eq!(s.comoment(0, 1), 11.5);
        assert_eq!(s.comoment(1, 0), 11.5);
        assert!(close(s.covariance(0, 1), 11.5 / 3.0, 1e-15));
    }

    #[test]
    fn push_equals_update() {
        let x = [3.0, -1.0, 7.5, 2.25, 0.0];
        let y = [1.0, 1.5, -2.0, 4.0, 8.0];
        let mut a = CoMoments::new(2);
        a.update(&[&x, &y]).unwrap();
        let mut b = CoMoments::new(2);
        for i in 0..x.len() {
            b.push(&[x[i], y[i]]);
        }
        for (u, v) in a.comoment.iter().zip(&b.comoment) {
            assert!(close(*u, *v, 1e-14), "{u} vs {v}");
        }
    }

    #[test]
    fn accurate_with_large_offsets() {
        // Values around 1e6 with unit spread: raw sums of squares (Σx² − n x̄²) would keep only
        // a few digits; centred co-moments keep nearly all of them, merged across 11 batches.
        let x: Vec<f64> = (0..1000).map(|i| 1e6 + (i % 10) as f64).collect();
        let mut s = CoMoments::new(1);
        for chunk in x.chunks(97) {
            s.update(&[chunk]).unwrap();
        }
        // Variance of 0..9 repeated 100 times: Σ(i−4.5)² per ten = 82.5 → 8250 / 999
        assert!(close(s.covariance(0, 0), 8250.0 / 999.0, 1e-11), "{}", s.covariance(0, 0));
        assert!(close(s.means()[0], 1e6 + 4.5, 1e-15));
    }

    #[test]
    fn codec_round_trip_and_errors() {
        let mut s = CoMoments::new(3);
        s.update(&[&[1.0, 2.0], &[3.0, 5.0], &[-1.0, 0.5]]).unwrap();
        let bytes = s.to_bytes();
        assert_eq!(CoMoments::decode(&bytes).unwrap(), s);
        assert!(matches!(CoMoments::decode(&bytes[..bytes.len() - 1]), Err(StatsError::CorruptState(_))));
        assert!(matches!(CoMoments::decode(&[9, 9]), Err(StatsError::CorruptState(_))));
    }

    #[test]
    fn shape_errors() {
        let mut s = CoMoments::new(2);
        assert!(s.update(&[&[1.0]]).is_err());
        assert!(s.update(&[&[1.0], &[1.0, 2.0]]).is_err());
    }

    #[test]
    fn coded_update_hand_values() {
        // Rows coded 1,0,1,1: state 0 gets x = 5; state 1 gets x = 1, 2, 6 (mean 3, C = 14).
        let mut states = vec![CoMoments::new(1), CoMoments::new(1)];
        CoMoments::update_coded(&mut states, &[1, 0, 1, 1], &[&[1.0, 5.0, 2.0, 6.0]]).unwrap();
        assert_eq!((states[0].count(), states[0].means()[0], states[0].comoment(0, 0)), (1, 5.0, 0.0));
        assert_eq!((states[1].count(), states[1].means()[0], states[1].comoment(0, 0)), (3, 3.0, 14.0));
        // A code past the states, or a short column, is refused without touching the states.
        assert!(matches!(CoMoments::update_coded(&mut states, &[2], &[&[1.0]]), Err(StatsError::Shape(_))));
        assert!(matches!(CoMoments::update_coded(&mut states, &[0, 1], &[&[1.0]]), Err(StatsError::Shape(_))));
        assert_eq!(states[1].count(), 3);
    }

    proptest! {
        /// update_coded == one update per state with that state's rows, for every width (the
        /// fixed-width kernels and the sorted fallback past six columns), onto non-empty states.
        #[test]
        fn coded_equals_split(
            rows in prop::collection::vec((0u32..5, prop::collection::vec(-1e3f64..1e3, 8)), 1..300),
            width in 1usize..9,
            seed in prop::collection::vec(-1e3f64..1e3, 8),
        ) {
            let buckets = 5;
            let start: Vec<CoMoments> = (0..buckets).map(|b| {
                let mut s = CoMoments::new(width);
                if b % 2 == 0 {
                    s.push(&seed[..width]);
                }
                s
            }).collect();
            let codes: Vec<u32> = rows.iter().map(|r| r.0).collect();
            let cols: Vec<Vec<f64>> = (0..width).map(|j| rows.iter().map(|r| r.1[j]).collect()).collect();
            let slices: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
            let mut coded = start.clone();
            CoMoments::update_coded(&mut coded, &codes, &slices).unwrap();
            for b in 0..buckets {
                let mine: Vec<Vec<f64>> = cols.iter().map(|c| c.iter().zip(&codes).filter(|(_, k)| **k == b as u32).map(|(x, _)| *x).collect()).collect();
                let mine: Vec<&[f64]> = mine.iter().map(Vec::as_slice).collect();
                let mut split = start[b].clone();
                split.update(&mine).unwrap();
                prop_assert_eq!(coded[b].count(), split.count());
                for j in 0..width {
                    prop_assert!((coded[b].means()[j] - split.means()[j]).abs() <= 1e-12 * (1.0 + split.means()[j].abs()));
                    for l in j..width {
                        let (u, v) = (coded[b].comoment(j, l), split.comoment(j, l));
                        prop_assert!((u - v).abs() <= 1e-10 * (1.0 + v.abs()), "C[{}][{}]: {} vs {}", j, l, u, v);
                    }
                }
            }
        }

        /// merge(update(a), update(b)) == update(a ∪ b), for any split point.
        #[test]
        fn merge_equals_whole(
            rows in prop::collection::vec((-1e3f64..1e3, -1e3f64..1e3, -5f64..5.0), 2..200),
            split in 0usize..200,
        ) {
            let split = split % rows.len();
            let cols = |r: &[(f64, f64, f64)]| -> [Vec<f64>; 3] {
                [r.iter().map(|t| t.0).collect(), r.iter().map(|t| t.1).collect(), r.iter().map(|t| t.2).collect()]
            };
            let [a0, a1, a2] = cols(&rows[..split]);
            let [b0, b1, b2] = cols(&rows[split..]);
            let [w0, w1, w2] = cols(&rows);
            let mut a = CoMoments::new(3);
            a.update(&[&a0, &a1, &a2]).unwrap();
            let mut b = CoMoments::new(3);
            b.update(&[&b0, &b1, &b2]).unwrap();
            a.merge(&b);
            let mut whole = CoMoments::new(3);
            whole.update(&[&w0, &w1, &w2]).unwrap();
            prop_assert_eq!(a.count(), whole.count());
            for j in 0..3 {
                prop_assert!((a.means()[j] - whole.means()[j]).abs() <= 1e-9 * (1.0 + whole.means()[j].abs()));
                for l in 0..3 {
                    let (u, v) = (a.comoment(j, l), whole.comoment(j, l));
                    prop_assert!((u - v).abs() <= 1e-9 * (1.0 + v.abs()), "C[{}][{}]: {} vs {}", j, l, u, v);
                }
            }
        }
    }
}
