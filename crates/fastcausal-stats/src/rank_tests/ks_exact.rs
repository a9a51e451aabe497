//! Exact p-values of the two-sample Kolmogorov–Smirnov test by lattice-path counting, as scipy's
//! `ks_2samp(method='exact')` computes them, including when that computation gives up.
//!
//! With sizes n1, n2 (g = gcd, L = lcm), the statistic is D = h/L for an integer h, and under the
//! null every interleaving of the two samples — a monotone lattice path from (0,0) to (n1,n2) —
//! is equally likely. P(D ≥ h/L) is the share of paths that reach one of the diagonal lines
//! |x/n1 − y/n2| = h/L (two-sided) or the lower one (one-sided):
//!
//! * two-sided, n1 = n2 = n: the reflection formula 2 Σ_k (−1)^{k+1} C(2n, n−kh)/C(2n, n), in a
//!   Horner-like form without cancellation;
//! * two-sided, n1 ≠ n2: Hodges' "inside" recursion over the band of admissible lattice points,
//!   written for 1 − p directly (Viehmann 2021), one column at a time, normalised so no count
//!   overflows;
//! * one-sided, n1 = n2: C(2n, n−h)/C(2n, n) as a product of h ratios;
//! * one-sided, n1 ≠ n2: Hodges' first-passage count (an alternating sum of products of binomial
//!   coefficients) divided by C(n1+n2, n1), in doubles with scipy's `binom`. It overflows once
//!   C(n1+n2, n1) exceeds the double range (n1 + n2 ≳ 1030 for equal sizes) and can lose
//!   accuracy to cancellation; scipy then reports failure and falls back to the asymptotic
//!   formula, and so does this module — it reproduces scipy's doubles operation by operation
//!   so that it fails exactly when scipy does.

use super::cephes::binom;
use crate::Alternative;

/// Outcome of the exact attempt: the statistic rounded to a multiple of 1/lcm, and the p-value
/// when the computation succeeded.
pub(crate) struct ExactAttempt {
    pub d: f64,
    pub p_value: Option<f64>,
}

pub(crate) fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// scipy's `_attempt_exact_2kssamp(n1, n2, g, d, alternative)`.
pub(crate) fn attempt_exact(n1: u64, n2: u64, d: f64, alternative: Alternative) -> ExactAttempt {
    let g = gcd(n1, n2);
    let lcm = (n1 / g) * n2;
    let h = (d * lcm as f64).round_ties_even();
    let h = if h > 0.0 { h as u64 } else { 0 };
    let d = h as f64 / lcm as f64;
    if h == 0 {
        return ExactAttempt { d, p_value: Some(1.0) };
    }
    let prob = match alternative {
        Alternative::TwoSided => {
            if n1 == n2 {
                Some(prob_outside_square(n1, h))
            } else {
                outer_prob_inside(n1, n2, g, h)
            }
        }
        Alternative::Less | Alternative::Greater => {
            if n1 == n2 {
                let n = n1 as f64;
                let mut p = 1.0;
                for j in 0..h {
                    p *= (n - j as f64) / (n + j as f64 + 1.0);
                }
                Some(p)
            } else {
                let total = binom(n1 + n2, n1);
                if !total.is_finite() {
                    None
                } else {
                    match count_paths_outside(n1, n2, g, h) {
                        Some(paths) if paths <= total => Some(paths / total),
                        _ => None,
                    }
                }
            }
        }
    };
    match prob {
        Some(p) if (0.0..=1.0).contains(&p) => ExactAttempt { d, p_value: Some(p) },
        _ => ExactAttempt { d, p_value: None },
    }
}

/// P(D_{n,n} ≥ h/n): 2·A0·(1 − A1·(1 − A2·(1 − …))) with A_k = C(2n, n−kh)/C(2n, n−(k−1)h).
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let (n, h) = (n as i64, h as i64);
    let mut p = 0.0f64;
    let mut k = n / h;
    while k >= 0 {
        let mut p1 = 1.0f64;
        for j in 0..h {
            p1 = (n - k * h - j) as f64 * p1 / (n + k * h + j + 1) as f64;
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// 1 − (share of paths staying strictly inside |n·x − m·y|/g < h), column by column over a
/// sliding window of the band (scipy's `_compute_outer_prob_inside_method`).
fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> Option<f64> {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (m, n, g, h) = (m as i64, n as i64, g as i64, h as i64);
    let mg = m / g;
    let ng = n / g;
    let mut minj: i64 = 0;
    let mut maxj: i64 = ((h as f64 / mg as f64).ceil() as i64).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1).max(0) as usize;
    let mut a = vec![1.0f64; len_a];
    for v in a.iter_mut().take(maxj.max(0) as usize) {
        *v = 0.0;
    }
    for i in 1..=m {
        let lastminj = minj;
        let lastlen = curlen;
        minj = ((((ng * i - h) as f64 / mg as f64).floor() as i64) + 1).max(0).min(n);
        maxj = (((ng * i + h) as f64 / mg as f64).ceil() as i64).min(n + 1);
        if maxj <= minj {
            return Some(1.0);
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            let prev = *a.get((jj + minj - lastminj) as usize)?;
            val = (prev * i as f64 + val * j as f64) / (i + j) as f64;
            *a.get_mut(jj as usize)? = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let start = (maxj - minj) as usize;
            let end = (start + (lastlen - curlen) as usize).min(a.len());
            for v in a.iter_mut().take(end).skip(start) {
                *v = 1.0;
            }
        }
    }
    a.get((maxj - minj - 1) as usize).copied()
}

/// Number of paths from (0,0) to (m,n) that reach the line m·y = n·x − h·g (Hodges'
/// first-passage decomposition, scipy's `_count_paths_outside_method`); `None` when a double
/// overflows on the way, where scipy raises a floating-point error.
fn count_paths_outside(m: u64, n: u64, g: u64, h: u64) -> Option<f64> {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mi, ni, gi, hi) = (m as i64, n as i64, g as i64, h as i64);
    let mg = mi / gi;
    let ng = ni / gi;
    let lxj = ni + (mg - hi).div_euclid(mg);
    if lxj <= 0 {
        return if lxj == 0 { Some(binom(m + n, n)) } else { None };
    }
    let lxj = lxj as usize;
    let xj: Vec<u64> = (0..lxj as i64).map(|j| ((hi + mg * j + ng - 1) / ng) as u64).collect();
    let mut b = vec![0.0f64; lxj];
    b[0] = 1.0;
    for j in 1..lxj {
        let mut bj = binom(xj[j] + j as u64, j as u64);
        for i in 0..j {
            let c = binom(xj[j] - xj[i] + (j - i) as u64, (j - i) as u64);
            bj -= c * b[i];
        }
        if !bj.is_finite() {
            return None;
        }
        b[j] = bj;
    }
    let mut num_paths = 0.0f64;
    for (j, (&bj, &x)) in b.iter().zip(&xj).enumerate() {
        if x > m {
            return None;
        }
        let c = binom((m - x) + (n - j as u64), n - j as u64);
        num_paths += bj * c;
    }
    num_paths.is_finite().then_some(num_paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_formula_hand_values() {
        // n = 2, h = 2: only the two extreme interleavings (of C(4,2) = 6) have D = 1.
        assert!((prob_outside_square(2, 2) - 2.0 / 6.0).abs() < 1e-15);
        // h = 1: every path has D >= 1/2.
        assert!((prob_outside_square(2, 1) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn one_sided_and_two_sided_small_cases() {
        // Sizes 1 and 2, D = 1 (h = lcm = 2): P(D+ >= 1) = 1/3 (one of 3 arrangements).
        let r = attempt_exact(1, 2, 1.0, Alternative::Greater);
        assert!((r.p_value.unwrap() - 1.0 / 3.0).abs() < 1e-15);
        let r = attempt_exact(1, 2, 1.0, Alternative::TwoSided);
        assert!((r.p_value.unwrap() - 2.0 / 3.0).abs() < 1e-15);
        // Overflow of C(n1+n2, n1): the one-sided exact method gives up, as scipy's does.
        assert!(attempt_exact(517, 611, 0.05, Alternative::Less).p_value.is_none());
        assert!(attempt_exact(517, 611, 0.05, Alternative::TwoSided).p_value.is_some());
    }
}
