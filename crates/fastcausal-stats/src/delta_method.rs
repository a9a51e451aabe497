//! The delta method: the variance of a smooth function of sample means.
//!
//! For a metric g(x̄) of the means of k columns observed on the same n rows, the first-order
//! Taylor expansion around the true means gives
//!
//! ```text
//! Var(g(x̄)) ≈ ∇gᵀ Σ̂ ∇g / n
//! ```
//!
//! where Σ̂ is the sample covariance (divisor n − 1) of the k columns and ∇g the gradient of g
//! at the observed means. This is the variance estimator of ratio metrics such as
//! `avg(revenue)/avg(sessions)`, where rows (users) are the randomisation unit but the ratio's
//! terms are correlated within a row. The state it needs is a [`CoMoments`].

use crate::error::{Result, StatsError};
use crate::metric::MetricExpr;
use crate::moments::CoMoments;

/// A metric's value and its delta-method variance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeltaMethod {
    /// g(x̄), the metric at the observed means.
    pub estimate: f64,
    /// ∇gᵀ Σ̂ ∇g / n.
    pub variance: f64,
    /// Rows used.
    pub n: u64,
}

impl DeltaMethod {
    /// The standard error, √variance.
    pub fn std_error(&self) -> f64 {
        self.variance.sqrt()
    }
}

/// Evaluates `metric` and its delta-method variance from `moments` (over the metric's columns,
/// in order); `names` are the column names used in error messages.
pub fn delta_method(metric: &MetricExpr, moments: &CoMoments, names: &[String]) -> Result<DeltaMethod> {
    let n = moments.count();
    if n < 2 {
        return Err(StatsError::TooFewRows { needed: 2, found: n });
    }
    let (estimate, grad) = metric.value_and_gradient_named(moments.means(), names)?;
    let k = moments.dim();
    let mut quad = 0.0;
    for j in 0..k {
        if grad[j] == 0.0 {
            continue;
        }
        for l in 0..k {
            quad += grad[j] * moments.covariance(j, l) * grad[l];
        }
    }
    // Rounding can make an exactly-zero variance (a constant metric) slightly negative.
    let variance = (quad / n as f64).max(0.0);
    Ok(DeltaMethod { estimate, variance, n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_mean_is_standard_error_of_the_mean() {
        // avg(x) of 1..5: s² = 2.5, Var(x̄) = 2.5/5 = 0.5
        let mut m = CoMoments::new(1);
        m.update(&[&[1.0, 2.0, 3.0, 4.0, 5.0]]).unwrap();
        let d = delta_method(&MetricExpr::parse("$1").unwrap(), &m, &["x".into()]).unwrap();
        assert_eq!(d.estimate, 3.0);
        assert!((d.variance - 0.5).abs() < 1e-15);
    }

    #[test]
    fn ratio_by_hand() {
        // x = 1,2,3,4 ; y = 2,4,6,9: x̄ = 2.5, ȳ = 5.25, s_xx = 5/3, s_xy = 11.5/3,
        // s_yy = Σ(y−5.25)² = 10.5625+1.5625+.5625+14.0625 = 26.75 → /3.
        // g = x̄/ȳ, ∇ = (1/ȳ, −x̄/ȳ²).
        let mut m = CoMoments::new(2);
        m.update(&[&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 6.0, 9.0]]).unwrap();
        let d = delta_method(&MetricExpr::parse("$1/$2").unwrap(), &m, &[]).unwrap();
        let (gx, gy) = (1.0 / 5.25, -2.5 / (5.25 * 5.25));
        let expected = (gx * gx * 5.0 / 3.0 + 2.0 * gx * gy * 11.5 / 3.0 + gy * gy * 26.75 / 3.0) / 4.0;
        assert_eq!(d.estimate, 2.5 / 5.25);
        assert!((d.variance - expected).abs() <= 1e-13 * expected, "{} vs {}", d.variance, expected);
    }

    #[test]
    fn too_few_rows() {
        let mut m = CoMoments::new(1);
        m.update(&[&[1.0]]).unwrap();
        let err = delta_method(&MetricExpr::parse("$1").unwrap(), &m, &[]).unwrap_err();
        assert_eq!(err, StatsError::TooFewRows { needed: 2, found: 1 });
    }
}
