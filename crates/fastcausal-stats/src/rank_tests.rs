//! The two rank tests of a treatment sample against a control sample: Mann–Whitney U and the
//! two-sample Kolmogorov–Smirnov test, with p-values exactly as scipy's `method='auto'`.
//!
//! # Model
//!
//! Each arm's state is its values ([`crate::SortedValues`]), sorted once at the end. Both tests
//! then walk the two sorted arrays together, one distinct value at a time, in O(n0 + n1) time
//! and constant extra memory:
//!
//! * **Mann–Whitney.** With average ranks for ties, the U statistic of the treatment sample is
//!   U1 = Σ over treatment values of (#control values below + ½ #control values equal), so the
//!   walk accumulates 2·U1 exactly in integers, together with the tie term Σ(t³ − t) over the
//!   groups of tied values of the pooled sample. U0 = n0·n1 − U1.
//! * **Kolmogorov–Smirnov.** At each distinct value v, the difference of the empirical CDFs
//!   F1(v) − F0(v) (treatment minus control, each count divided by its size in doubles, as
//!   scipy does); D⁺ is its maximum, D⁻ minus its minimum, and the location is the first value
//!   where scipy's `argmax`/`argmin` over the concatenation (treatment values, then control
//!   values) finds it.
//!
//! # p-values (scipy 1.17, `method='auto'`)
//!
//! `mann_whitney_u(control, treatment, …)` equals `scipy.stats.mannwhitneyu(treatment, control,
//! method='auto')`:
//!
//! * **exact** when there are no ties and one of the arms has at most 8 values: the exact null
//!   distribution of U (see `mwu_exact`), p = P(U ≥ u) read from the lower tail by symmetry;
//! * **asymptotic** otherwise: z = (U − n0·n1/2 − ½·continuity) / σ with the tie-corrected
//!   σ² = n0·n1/12 · ((n + 1) − Σ(t³ − t)/(n(n − 1))), and p = Φ(−z).
//!
//! U is U1 for `greater`, U0 for `less` and max(U0, U1) for `two-sided` (p doubled, capped at 1).
//!
//! `ks_2samp(control, treatment, …)` equals `scipy.stats.ks_2samp(treatment, control,
//! method='auto')`:
//!
//! * **exact** when both arms have at most 10,000 values, by lattice-path counting (see
//!   `ks_exact`; the statistic is then rounded to a multiple of 1/lcm(n0, n1), as scipy
//!   reports it). The one-sided count for unequal sizes overflows doubles beyond about
//!   1,000 values in all; scipy then falls back to the asymptotic formula, and so does this;
//! * **asymptotic** otherwise: two-sided p = `kstwo.sf(D, round(n0·n1/(n0+n1)))`, the exact
//!   distribution of the one-sample statistic (see [`kstwo_sf`]); one-sided p =
//!   exp(−2z² − 2z(m + 2n)/√(mn(m+n))/3) with z = D·√(mn/(m+n)), m ≥ n the sizes (Hodges).
//!
//! Alternatives are oriented as treatment versus control: for Mann–Whitney `greater` means
//! treatment values tend to be larger; for KS, scipy's convention is kept: `greater` is the
//! alternative F1 > F0 somewhere (the treatment CDF above the control CDF, i.e. treatment values
//! tend to be *smaller*), with D⁺ = max(F1 − F0).
//!
//! # Accuracy
//!
//! Statistics (U, D, location, sign) are scipy's to the last bit. p-values agree with scipy 1.17
//! to within 3e-13 relative over every branch — exact and asymptotic, each algorithm of kstwo —
//! in `tests/rank_tests.rs`; the largest differences are scipy's own rounding (its exact U
//! distribution is built in doubles by a recursion with cancellation; this module's agrees with
//! the exact rational value to ~1e-15). Where scipy's doubles decide the outcome, they are
//! reproduced operation by operation: the one-sided exact KS count (which fails, and falls back,
//! exactly when scipy's does), Cephes' `binom`, numpy's `long double` scalars and
//! OpenBLAS's summation order inside kstwo's Pomeranz recursion, where 1 − CDF amplifies the
//! CDF's last bits a thousandfold. (That order is OpenBLAS's Haswell kernel, numpy's on AVX2
//! machines; elsewhere scipy's own results move by ~1e-12 there.)

use crate::Alternative;
use crate::error::{Result, StatsError};

mod cephes;
mod dd;
mod ks_exact;
mod kstwo;
mod mwu_exact;

pub use kstwo::kstwo_sf;

/// The result of a Mann–Whitney U test of treatment against control.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MannWhitney {
    /// Number of control values.
    pub n0: u64,
    /// Number of treatment values.
    pub n1: u64,
    /// U of the control sample: the number of (control, treatment) pairs with the control value
    /// larger, ties counting one half.
    pub u0: f64,
    /// U of the treatment sample (scipy's statistic for x = treatment); `u0 + u1 = n0·n1`.
    pub u1: f64,
    /// The normal-approximation statistic the p-value is read from, `p = f·Φ(−z)` with f = 2
    /// for two-sided and 1 otherwise: the standardised U1 for `greater`, U0 for `less`,
    /// max(U0, U1) for `two-sided` (so it is never negative then), continuity-corrected on
    /// request. `None` when the exact distribution was used. Infinite (−∞) only when every
    /// value is the same and the continuity correction is on, where p = 1 as in scipy.
    pub z: Option<f64>,
    /// The p-value for the requested alternative.
    pub p_value: f64,
    /// Whether the exact null distribution was used (no ties and an arm with at most 8 values).
    pub exact: bool,
}

/// The result of a two-sample Kolmogorov–Smirnov test of treatment against control.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KolmogorovSmirnov {
    /// Number of control values.
    pub n0: u64,
    /// Number of treatment values.
    pub n1: u64,
    /// The statistic (scipy's `statistic`): max |F1 − F0| for two-sided, max(F1 − F0) for
    /// `greater`, max(F0 − F1) for `less`; a multiple of 1/lcm(n0, n1) when the exact method ran.
    pub d: f64,
    /// The value at which the statistic is attained (scipy's `statistic_location`).
    pub location: f64,
    /// +1 when the statistic is max(F1 − F0), −1 when it is max(F0 − F1) (scipy's
    /// `statistic_sign`).
    pub sign: i8,
    /// The p-value for the requested alternative.
    pub p_value: f64,
    /// Whether the exact (path-counting) p-value was used.
    pub exact: bool,
}

/// Rejects empty, unsorted or non-finite input.
fn check_sorted(name: &str, values: &[f64]) -> Result<()> {
    if values.is_empty() {
        return Err(StatsError::TooFewRows { needed: 1, found: 0 });
    }
    if let Some(&bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(StatsError::NonFinite { column: name.to_string(), value: bad });
    }
    if values.windows(2).any(|w| w[0] > w[1]) {
        return Err(StatsError::Shape(format!(
            "the {name} values must be sorted ascending (SortedValues::sort) before a rank test"
        )));
    }
    Ok(())
}

use crate::distributions::normal_sf;

/// What one merge walk over the two sorted samples yields for Mann–Whitney.
struct RankSums {
    /// 2·U1 (U of the treatment sample), exact.
    twice_u1: u128,
    /// Σ (t³ − t) over groups of tied values in the pooled sample, exact.
    tie_term: u128,
    /// Whether any value occurs more than once in the pooled sample.
    ties: bool,
}

/// The length of the run of values equal to `values[start]`.
#[inline]
fn run_length(values: &[f64], start: usize, v: f64) -> usize {
    values[start..].iter().take_while(|&&x| x == v).count()
}

/// One distinct value of the pooled sample in a merge walk over two sorted samples.
struct Run {
    value: f64,
    /// Control values below `value`.
    below0: usize,
    /// Treatment values below `value`.
    below1: usize,
    /// Control and treatment values equal to `value`.
    count0: usize,
    count1: usize,
}

/// The distinct values of two sorted samples in ascending order, each with its counts: the one
/// walk both rank tests are built on (no allocation).
fn runs<'a>(control: &'a [f64], treatment: &'a [f64]) -> impl Iterator<Item = Run> + 'a {
    let (mut i, mut j) = (0usize, 0usize);
    std::iter::from_fn(move || {
        let value = match (control.get(i), treatment.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => return None,
        };
        let count0 = if i < control.len() && control[i] == value { run_length(control, i, value) } else { 0 };
        let count1 = if j < treatment.len() && treatment[j] == value { run_length(treatment, j, value) } else { 0 };
        let run = Run { value, below0: i, below1: j, count0, count1 };
        i += count0;
        j += count1;
        Some(run)
    })
}

fn rank_sums(control: &[f64], treatment: &[f64]) -> RankSums {
    let mut twice_u1: u128 = 0;
    let mut tie_term: u128 = 0;
    let mut ties = false;
    for r in runs(control, treatment) {
        // Each of the count1 treatment values beats the below0 control values and ties with count0.
        twice_u1 += r.count1 as u128 * (2 * r.below0 as u128 + r.count0 as u128);
        let t = (r.count0 + r.count1) as u128;
        if t > 1 {
            ties = true;
            // Saturating only beyond 7e12 values, far past any real sample.
            tie_term = tie_term.saturating_add(t.saturating_mul(t).saturating_mul(t) - t);
        }
    }
    RankSums { twice_u1, tie_term, ties }
}

/// The Mann–Whitney U test of `treatment` against `control`.
///
/// Both slices must be sorted ascending ([`crate::SortedValues::sort`]), finite and non-empty.
/// Equals `scipy.stats.mannwhitneyu(treatment, control, use_continuity=continuity,
/// alternative=alternative, method='auto')`; see the [module documentation](self).
///
/// Errors: an empty arm ([`StatsError::TooFewRows`]); unsorted or non-finite input; and every
/// value identical without the continuity correction, where scipy's p-value is 0/0 = NaN
/// ([`StatsError::UndefinedMetric`]).
pub fn mann_whitney_u(
    control: &[f64],
    treatment: &[f64],
    alternative: Alternative,
    continuity: bool,
) -> Result<MannWhitney> {
    check_sorted("control", control)?;
    check_sorted("treatment", treatment)?;
    let n0 = control.len() as u64;
    let n1 = treatment.len() as u64;
    let sums = rank_sums(control, treatment);
    let pairs = n0 as u128 * n1 as u128;
    let u1 = sums.twice_u1 as f64 / 2.0;
    let u0 = (2 * pairs - sums.twice_u1) as f64 / 2.0;
    let nn = (n0 as f64) * (n1 as f64);
    // scipy: x = treatment (n1 values) and y = control; U2 = n1·n2 − U1.
    let (u, factor) = match alternative {
        Alternative::Greater => (u1, 1.0),
        Alternative::Less => (u0, 1.0),
        Alternative::TwoSided => (u1.max(u0), 2.0),
    };
    let exact = !sums.ties && (n0 <= 8 || n1 <= 8);
    if exact {
        let (m, n) = (n0.min(n1), n0.max(n1));
        let k = u as u64; // an integer without ties
        let dist = mwu_exact::ExactU::new(m, n);
        let total = cephes::binom(m + n, m);
        let kc = m * n - k;
        let sf = if k < kc {
            let cdf = dist.count_at_most(k) / total;
            let below = if k == 0 { 0.0 } else { dist.count_at_most(k - 1) };
            let pmf = (dist.count_at_most(k) - below) / total;
            1.0 - cdf + pmf
        } else {
            dist.count_at_most(kc) / total
        };
        let p_value = (sf * factor).clamp(0.0, 1.0);
        return Ok(MannWhitney { n0, n1, u0, u1, z: None, p_value, exact: true });
    }

    let mu = nn / 2.0;
    let n = n0 + n1;
    let nf = n as f64;
    let pairs_f = pairs as f64;
    // σ² = n0·n1/12 · ((n+1) − T/(n(n−1))), evaluated as scipy does; when every value is the same
    // T = n³ − n exactly and σ = 0.
    let n_cubed_minus_n = (n as u128).saturating_pow(3) - n as u128;
    let all_tied = sums.tie_term == n_cubed_minus_n;
    let s = if all_tied {
        0.0
    } else {
        let factor = (nf + 1.0) - sums.tie_term as f64 / (n as f64 * (n - 1) as f64);
        let var = pairs_f / 12.0 * factor;
        if var > 0.0 {
            var.sqrt()
        } else {
            // Rounding with almost every value tied: use the exact numerator (n³ − n − T).
            let exact_num = (n_cubed_minus_n - sums.tie_term) as f64;
            (pairs_f * exact_num / (12.0 * nf * (n - 1) as f64)).sqrt()
        }
    };
    let mut numerator = u - mu;
    if continuity {
        numerator -= 0.5;
    }
    let z = numerator / s;
    if z.is_nan() {
        return Err(StatsError::UndefinedMetric {
            reason: "every value is the same in both arms, so the Mann-Whitney statistic has no variance \
                     (use the continuity correction to get p = 1)"
                .into(),
        });
    }
    let p_value = (normal_sf(z) * factor).clamp(0.0, 1.0);
    Ok(MannWhitney { n0, n1, u0, u1, z: Some(z), p_value, exact: false })
}

/// What one merge walk over the two sorted samples yields for Kolmogorov–Smirnov.
struct EcdfExtremes {
    max: f64,
    max_at: f64,
    min: f64,
    min_at: f64,
}

fn ecdf_extremes(control: &[f64], treatment: &[f64]) -> EcdfExtremes {
    let n0 = control.len() as f64;
    let n1 = treatment.len() as f64;
    // Best over values present in the treatment sample (which comes first in scipy's
    // concatenation) and over those present in the control sample.
    let (mut max_t, mut max_t_at, mut max_c, mut max_c_at) = (f64::NEG_INFINITY, 0.0, f64::NEG_INFINITY, 0.0);
    let (mut min_t, mut min_t_at, mut min_c, mut min_c_at) = (f64::INFINITY, 0.0, f64::INFINITY, 0.0);
    for r in runs(control, treatment) {
        let v = r.value;
        let diff = (r.below1 + r.count1) as f64 / n1 - (r.below0 + r.count0) as f64 / n0;
        if r.count1 > 0 {
            if diff > max_t {
                (max_t, max_t_at) = (diff, v);
            }
            if diff < min_t {
                (min_t, min_t_at) = (diff, v);
            }
        }
        if r.count0 > 0 {
            if diff > max_c {
                (max_c, max_c_at) = (diff, v);
            }
            if diff < min_c {
                (min_c, min_c_at) = (diff, v);
            }
        }
    }
    let (max, max_at) = if max_t >= max_c { (max_t, max_t_at) } else { (max_c, max_c_at) };
    let (min, min_at) = if min_t <= min_c { (min_t, min_t_at) } else { (min_c, min_c_at) };
    EcdfExtremes { max, max_at, min, min_at }
}

/// Above this many values in an arm, scipy's `method='auto'` does not try the exact p-value.
const KS_MAX_AUTO_N: u64 = 10_000;

/// The two-sample Kolmogorov–Smirnov test of `treatment` against `control`.
///
/// Both slices must be sorted ascending ([`crate::SortedValues::sort`]), finite and non-empty.
/// Equals `scipy.stats.ks_2samp(treatment, control, alternative=alternative, method='auto')`;
/// see the [module documentation](self) for the methods and for which way `less`/`greater`
/// point.
pub fn ks_2samp(control: &[f64], treatment: &[f64], alternative: Alternative) -> Result<KolmogorovSmirnov> {
    check_sorted("control", control)?;
    check_sorted("treatment", treatment)?;
    let n0 = control.len() as u64;
    let n1 = treatment.len() as u64;
    let e = ecdf_extremes(control, treatment);
    let min_s = (-e.min).clamp(0.0, 1.0);
    let max_s = e.max;
    let (mut d, location, sign) =
        if alternative == Alternative::Less || (alternative == Alternative::TwoSided && min_s > max_s) {
            (min_s, e.min_at, -1i8)
        } else {
            (max_s, e.max_at, 1i8)
        };
    if n0.max(n1) <= KS_MAX_AUTO_N {
        // scipy's data1 = treatment (n1), data2 = control (n0).
        let attempt = ks_exact::attempt_exact(n1, n0, d, alternative);
        d = attempt.d;
        if let Some(p) = attempt.p_value {
            return Ok(KolmogorovSmirnov { n0, n1, d, location, sign, p_value: p.clamp(0.0, 1.0), exact: true });
        }
    }
    let (m, n) = ((n0.max(n1)) as f64, (n0.min(n1)) as f64);
    let en = m * n / (m + n);
    let p = match alternative {
        Alternative::TwoSided => kstwo_sf(d, en.round_ties_even() as u64),
        Alternative::Less | Alternative::Greater => {
            let z = en.sqrt() * d;
            let expt = -2.0 * z.powf(2.0) - 2.0 * z * (m + 2.0 * n) / (m * n * (m + n)).sqrt() / 3.0;
            expt.exp()
        }
    };
    Ok(KolmogorovSmirnov { n0, n1, d, location, sign, p_value: p.clamp(0.0, 1.0), exact: false })
}

#[cfg(test)]
pub(crate) mod tests_support {
    use std::sync::OnceLock;

    /// tests/reference/rank_tests.json, parsed once.
    pub fn reference() -> &'static serde_json::Value {
        static JSON: OnceLock<serde_json::Value> = OnceLock::new();
        JSON.get_or_init(|| {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/reference/rank_tests.json");
            let text = std::fs::read_to_string(path).expect("read rank_tests.json");
            serde_json::from_str(&text).expect("parse rank_tests.json")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        a == b || (a - b).abs() <= rel * a.abs().max(b.abs())
    }

    #[test]
    fn hand_computed_u() {
        // x = treatment = [1, 2, 3], y = control = [4, 5]: every control value is larger.
        let r = mann_whitney_u(&[4.0, 5.0], &[1.0, 2.0, 3.0], Alternative::TwoSided, true).unwrap();
        assert_eq!((r.u1, r.u0), (0.0, 6.0));
        assert!(r.exact);
        // Exact: P(U ≤ 0) = 1/C(5,2) = 0.1, two-sided 0.2.
        assert!(close(r.p_value, 0.2, 1e-15));
        let less = mann_whitney_u(&[4.0, 5.0], &[1.0, 2.0, 3.0], Alternative::Less, true).unwrap();
        assert!(close(less.p_value, 0.1, 1e-15));
        let greater = mann_whitney_u(&[4.0, 5.0], &[1.0, 2.0, 3.0], Alternative::Greater, true).unwrap();
        assert!(close(greater.p_value, 1.0, 1e-15));
    }

    #[test]
    fn ties_count_one_half() {
        // treatment [1, 2], control [2, 3]: pairs (1,2) (1,3) (2,3) lose, (2,2) ties → U1 = 0.5.
        let r = mann_whitney_u(&[2.0, 3.0], &[1.0, 2.0], Alternative::TwoSided, true).unwrap();
        assert_eq!((r.u1, r.u0), (0.5, 3.5));
        assert!(!r.exact);
        // n = 4, one tie group of 2: σ² = 4/12·(5 − 6/12) = 1.5; z = (3.5 − 2 − 0.5)/√1.5.
        let z = 1.0 / 1.5f64.sqrt();
        assert!(close(r.z.unwrap(), z, 1e-15));
        assert!(close(r.p_value, 2.0 * normal_sf(z), 1e-15));
    }

    #[test]
    fn disjoint_samples_have_d_one() {
        let r = ks_2samp(&[1.0, 2.0], &[10.0, 11.0, 12.0, 13.0], Alternative::TwoSided).unwrap();
        assert_eq!(r.d, 1.0);
        assert_eq!(r.sign, -1);
        assert_eq!(r.location, 2.0);
        // Two-sided exact: 2 of the C(6,2) = 15 arrangements separate the samples completely.
        assert!(close(r.p_value, 2.0 / 15.0, 1e-15));
        let g = ks_2samp(&[1.0, 2.0], &[10.0, 11.0, 12.0, 13.0], Alternative::Greater).unwrap();
        assert_eq!((g.d, g.p_value), (0.0, 1.0));
    }

    #[test]
    fn errors() {
        assert_eq!(
            mann_whitney_u(&[], &[1.0], Alternative::TwoSided, true).unwrap_err(),
            StatsError::TooFewRows { needed: 1, found: 0 }
        );
        assert_eq!(
            ks_2samp(&[1.0], &[], Alternative::Less).unwrap_err(),
            StatsError::TooFewRows { needed: 1, found: 0 }
        );
        assert!(matches!(ks_2samp(&[2.0, 1.0], &[1.0], Alternative::Less), Err(StatsError::Shape(_))));
        assert!(matches!(
            mann_whitney_u(&[1.0, f64::NAN], &[1.0], Alternative::Less, true),
            Err(StatsError::NonFinite { .. })
        ));
        // All values identical: p = 1 with the continuity correction, undefined without.
        let same = [3.0; 5];
        let r = mann_whitney_u(&same, &[3.0; 7], Alternative::TwoSided, true).unwrap();
        assert_eq!(r.p_value, 1.0);
        assert_eq!(r.z, Some(f64::NEG_INFINITY));
        assert!(matches!(
            mann_whitney_u(&same, &[3.0; 7], Alternative::TwoSided, false),
            Err(StatsError::UndefinedMetric { .. })
        ));
    }

    /// The normal tail the asymptotic p-values use against scipy.special.ndtr(−z)
    /// (tests/reference/rank_tests.json), to 2e-13 relative (scipy's own error at |z| ≈ 37).
    #[test]
    fn normal_sf_matches_scipy() {
        let json = tests_support::reference();
        for row in json["normal_sf"].as_array().unwrap() {
            let z = f64::from_bits(row[0].as_u64().unwrap());
            let want = f64::from_bits(row[1].as_u64().unwrap());
            let got = normal_sf(z);
            assert!((got - want).abs() <= 2e-13 * want.abs(), "normal_sf({z}) = {got:e}, scipy {want:e}");
        }
    }
}
