//! Small dense symmetric solves for the normal equations (k is the number of model terms, so a
//! few to a few hundred): a Cholesky factorisation that takes the terms in order and drops each
//! one that is a linear combination of those before it, as R's `lm` reports aliased terms.

/// A Cholesky factor `L` (row-major, lower) of the kept rows and columns of a Gram matrix.
#[derive(Debug, Clone)]
pub struct Factor {
    /// Indices (into the full matrix) of the kept terms, in order.
    pub kept: Vec<usize>,
    /// Indices of the dropped terms.
    pub dropped: Vec<usize>,
    l: Vec<f64>,
}

/// A term is dropped when what is left of its diagonal after projecting out the kept terms is
/// at most this fraction of the diagonal itself (|correlation| with the kept terms above
/// 1 − 5·10⁻¹¹), or when its diagonal is zero.
pub const ALIAS_TOLERANCE: f64 = 1e-10;

impl Factor {
    /// Factors the symmetric positive semi-definite `gram` (k × k, row-major).
    pub fn new(gram: &[f64], k: usize) -> Factor {
        let mut kept = Vec::new();
        let mut dropped = Vec::new();
        // Rows of L for kept terms, each of length kept.len() at the time it was added.
        let mut rows: Vec<Vec<f64>> = Vec::new();
        for j in 0..k {
            let diag = gram[j * k + j];
            // Solve L r = gram[kept, j].
            let mut r = Vec::with_capacity(kept.len());
            for (p, &i) in kept.iter().enumerate() {
                let mut s = gram[i * k + j];
                for q in 0..p {
                    s -= rows[p][q] * r[q];
                }
                r.push(s / rows[p][p]);
            }
            let left = diag - r.iter().map(|x| x * x).sum::<f64>();
            if !(diag > 0.0) || !(left > ALIAS_TOLERANCE * diag) {
                dropped.push(j);
                continue;
            }
            r.push(left.sqrt());
            rows.push(r);
            kept.push(j);
        }
        let m = kept.len();
        let mut l = vec![0.0; m * m];
        for (p, r) in rows.iter().enumerate() {
            l[p * m..p * m + r.len()].copy_from_slice(r);
        }
        Factor { kept, dropped, l }
    }

    /// Number of kept terms.
    pub fn rank(&self) -> usize {
        self.kept.len()
    }

    /// Solves `G x = b` on the kept terms (`b` indexed like the kept terms).
    pub fn solve(&self, b: &[f64]) -> Vec<f64> {
        let m = self.rank();
        let mut y = b.to_vec();
        for i in 0..m {
            for q in 0..i {
                y[i] -= self.l[i * m + q] * y[q];
            }
            y[i] /= self.l[i * m + i];
        }
        for i in (0..m).rev() {
            for q in i + 1..m {
                y[i] -= self.l[q * m + i] * y[q];
            }
            y[i] /= self.l[i * m + i];
        }
        y
    }

    /// The inverse of the kept block (rank × rank, row-major).
    pub fn inverse(&self) -> Vec<f64> {
        let m = self.rank();
        let mut inv = vec![0.0; m * m];
        for j in 0..m {
            let mut e = vec![0.0; m];
            e[j] = 1.0;
            let col = self.solve(&e);
            for i in 0..m {
                inv[i * m + j] = col[i];
            }
        }
        inv
    }
}

/// `A B` for row-major `A` (r × s) and `B` (s × t).
pub fn matmul(a: &[f64], b: &[f64], r: usize, s: usize, t: usize) -> Vec<f64> {
    let mut out = vec![0.0; r * t];
    for i in 0..r {
        for q in 0..s {
            let x = a[i * s + q];
            if x == 0.0 {
                continue;
            }
            for j in 0..t {
                out[i * t + j] += x * b[q * t + j];
            }
        }
    }
    out
}

/// `Aᵀ` for row-major `A` (r × s).
pub fn transpose(a: &[f64], r: usize, s: usize) -> Vec<f64> {
    let mut out = vec![0.0; r * s];
    for i in 0..r {
        for j in 0..s {
            out[j * r + i] = a[i * s + j];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_and_inverts() {
        // G = [[4, 2], [2, 3]]: G⁻¹ = [[3, −2], [−2, 4]] / 8.
        let f = Factor::new(&[4.0, 2.0, 2.0, 3.0], 2);
        assert_eq!(f.kept, vec![0, 1]);
        let x = f.solve(&[2.0, 1.0]);
        assert!((x[0] - 0.5).abs() < 1e-15 && x[1].abs() < 1e-15);
        let inv = f.inverse();
        for (u, v) in inv.iter().zip([3.0 / 8.0, -0.25, -0.25, 0.5]) {
            assert!((u - v).abs() < 1e-15);
        }
    }

    #[test]
    fn drops_aliased_terms_in_order() {
        // Columns a, b = 2a, c: the Gram of (a, 2a, c) with a·a = 1, a·c = 0, c·c = 1.
        let g = [1.0, 2.0, 0.0, 2.0, 4.0, 0.0, 0.0, 0.0, 1.0];
        let f = Factor::new(&g, 3);
        assert_eq!((f.kept.clone(), f.dropped.clone()), (vec![0, 2], vec![1]));
        // A zero column is dropped too.
        let f = Factor::new(&[0.0, 0.0, 0.0, 1.0], 2);
        assert_eq!(f.dropped, vec![0]);
    }
}
