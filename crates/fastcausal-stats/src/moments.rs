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
//! A single row can also be pushed (Welford's update), which is what a group-by accumulator does
//! when consecutive rows belong to different groups.

use crate::codec::{Reader, StateCodec, Writer};
use crate::error::{Result, StatsError};
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

    proptest! {
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
