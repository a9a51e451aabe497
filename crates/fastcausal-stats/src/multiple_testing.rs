//! Adjusting p-values for multiple comparisons (k arms against control, or all pairs).
//!
//! * [`holm`]: Holm's step-down method, which controls the family-wise error rate (the chance
//!   of any false positive) and is uniformly better than Bonferroni.
//! * [`benjamini_hochberg`]: the Benjamini–Hochberg step-up method, which controls the false
//!   discovery rate (the expected share of false positives among the rejections).
//!
//! Both return adjusted p-values in the input order, capped at 1, equal to statsmodels'
//! `multipletests(p, method='holm')` and `method='fdr_bh'`.

/// Indices of `p` in ascending order of p (stable for ties).
fn ascending(p: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    order
}

/// Holm's step-down adjustment: the i-th smallest p-value (1-based) becomes
/// max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut out = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in ascending(p).iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// Benjamini–Hochberg's step-up adjustment: the i-th smallest p-value (1-based) becomes
/// min over j ≥ i of min(1, m·p₍ⱼ₎ / j).
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut out = vec![0.0; m];
    let mut running = 1.0f64;
    let order = ascending(p);
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min((m as f64 * p[i] / (rank + 1) as f64).min(1.0));
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_by_hand() {
        // sorted 0.01, 0.02, 0.03, 0.5 → 4·0.01, 3·0.02, max(.06, 2·.03), max(.06, .5)
        let adj = holm(&[0.03, 0.01, 0.5, 0.02]);
        let expected = [0.06, 0.04, 0.5, 0.06];
        for (a, e) in adj.iter().zip(expected) {
            assert!((a - e).abs() < 1e-15, "{adj:?}");
        }
        assert_eq!(holm(&[0.6, 0.7]), vec![1.0, 1.0]);
    }

    #[test]
    fn bh_by_hand() {
        // sorted 0.01, 0.02, 0.03, 0.5 with m = 4: 4·.5/4 = .5, 4·.03/3 = .04, 4·.02/2 = .04, 4·.01 = .04
        let adj = benjamini_hochberg(&[0.03, 0.01, 0.5, 0.02]);
        let expected = [0.04, 0.04, 0.5, 0.04];
        for (a, e) in adj.iter().zip(expected) {
            assert!((a - e).abs() < 1e-15, "{adj:?}");
        }
        assert!(benjamini_hochberg(&[]).is_empty());
    }
}
