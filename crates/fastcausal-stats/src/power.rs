//! Power analysis from observed variances: the minimum detectable effect of a running
//! experiment, and the sample size a planned one needs.
//!
//! For a two-sample test of level α (two-sided unless said otherwise) and power 1 − β, the
//! smallest true effect detected with probability 1 − β is
//!
//! ```text
//! MDE = (z₁₋α/₂ + z₁₋β) · SE,        SE = √(σ₀²/n₀ + σ₁²/n₁)
//! ```
//!
//! (z₁₋α for a one-sided test), the normal approximation every experimentation platform uses.
//! Solved for equal arms of n rows, n = (z₁₋α/₂ + z₁₋β)² (σ₀² + σ₁²) / effect². σₐ² is the
//! per-row variance of the metric in arm a — the delta-method (and CUPED-adjusted) variance of
//! the arm's estimate times its row count — so ratio metrics and CUPED plan correctly.

use crate::alternative::Alternative;
use crate::distributions::normal_isf;
use crate::error::{Result, StatsError};

fn check(alpha: f64, power: f64) -> Result<()> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(StatsError::InvalidOption {
            option: "alpha".into(),
            message: format!("alpha must be between 0 and 1 (exclusive), found {alpha}"),
        });
    }
    if !(power > 0.0 && power < 1.0) {
        return Err(StatsError::InvalidOption {
            option: "power".into(),
            message: format!("power must be between 0 and 1 (exclusive), found {power}"),
        });
    }
    Ok(())
}

/// z₁₋α/₂ + z_power (z₁₋α for one-sided alternatives).
pub fn z_sum(alpha: f64, power: f64, alternative: Alternative) -> Result<f64> {
    check(alpha, power)?;
    let za = match alternative {
        Alternative::TwoSided => normal_isf(alpha / 2.0),
        Alternative::Less | Alternative::Greater => normal_isf(alpha),
    };
    Ok(za + normal_isf(1.0 - power))
}

/// The minimum detectable effect for a standard error `stderr` of the difference.
pub fn minimum_detectable_effect(stderr: f64, alpha: f64, power: f64, alternative: Alternative) -> Result<f64> {
    Ok(z_sum(alpha, power, alternative)? * stderr)
}

/// Rows per arm (equal arms) to detect `effect` given per-row variances `var0`, `var1`.
pub fn sample_size_per_arm(
    var0: f64,
    var1: f64,
    effect: f64,
    alpha: f64,
    power: f64,
    alternative: Alternative,
) -> Result<u64> {
    if !(effect.is_finite() && effect != 0.0) {
        return Err(StatsError::InvalidOption {
            option: "effect".into(),
            message: format!("the effect to detect must be a non-zero number, found {effect}"),
        });
    }
    let z = z_sum(alpha, power, alternative)?;
    let n = (z * z * (var0 + var1) / (effect * effect)).ceil();
    if !(n.is_finite() && n < 1e18) {
        return Err(StatsError::UndefinedMetric { reason: format!("the required sample size is not finite ({n})") });
    }
    Ok((n as u64).max(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_numbers() {
        // z.975 + z.8 = 1.959963984540054 + 0.8416212335729143
        let z = z_sum(0.05, 0.8, Alternative::TwoSided).unwrap();
        assert!((z - 2.8015852181129683).abs() < 1e-12);
        // σ² = 1 per arm, effect 0.1 → 2.80158…² · 2 / 0.01 = 1569.77 → 1570
        assert_eq!(sample_size_per_arm(1.0, 1.0, 0.1, 0.05, 0.8, Alternative::TwoSided).unwrap(), 1570);
        assert!(minimum_detectable_effect(1.0, 0.05, 1.5, Alternative::TwoSided).is_err());
    }
}
