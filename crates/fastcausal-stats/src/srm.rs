//! Sample-ratio mismatch: are the arms as large as the design said they would be?
//!
//! A randomiser that sends 50.6% of users to one arm of a 50/50 test is broken (or some users
//! were lost after assignment), and every comparison of that experiment is suspect. The SRM
//! check is Pearson's chi-square goodness-of-fit test of the observed arm sizes Oₐ against the
//! expected sizes Eₐ = (Σ O)·rₐ / Σ r for the designed ratios r:
//! χ² = Σ (Oₐ − Eₐ)² / Eₐ with k − 1 degrees of freedom, as `scipy.stats.chisquare`.

use crate::distributions::chi_squared_sf;
use crate::error::{Result, StatsError};

/// The result of [`srm`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SampleRatioTest {
    pub chi_square: f64,
    pub df: u64,
    pub p_value: f64,
    /// Expected counts, in the order of the observed ones.
    pub expected: Vec<f64>,
}

/// Chi-square test of `observed` against the designed `ratios` (equal when `None`).
pub fn srm(observed: &[f64], ratios: Option<&[f64]>) -> Result<SampleRatioTest> {
    let k = observed.len();
    if k < 2 {
        return Err(StatsError::UndefinedMetric {
            reason: format!("a sample-ratio check needs at least two arms, but the data has {k}"),
        });
    }
    let equal = vec![1.0; k];
    let ratios = ratios.unwrap_or(&equal);
    if ratios.len() != k {
        return Err(StatsError::InvalidOption {
            option: "ratios".into(),
            message: format!(
                "{} ratios were given for {k} arms; give one ratio per arm, in sorted arm order",
                ratios.len()
            ),
        });
    }
    if let Some(r) = ratios.iter().find(|r| !(**r > 0.0 && r.is_finite())) {
        return Err(StatsError::InvalidOption {
            option: "ratios".into(),
            message: format!("ratios must be positive numbers, found {r}"),
        });
    }
    if let Some(o) = observed.iter().find(|o| !(**o >= 0.0)) {
        return Err(StatsError::UndefinedMetric { reason: format!("observed counts must not be negative, found {o}") });
    }
    let total: f64 = observed.iter().sum();
    if !(total > 0.0) {
        return Err(StatsError::UndefinedMetric { reason: "the observed counts are all zero".into() });
    }
    let rsum: f64 = ratios.iter().sum();
    let expected: Vec<f64> = ratios.iter().map(|r| total * r / rsum).collect();
    let chi_square = observed.iter().zip(&expected).map(|(o, e)| (o - e) * (o - e) / e).sum::<f64>();
    let df = (k - 1) as u64;
    Ok(SampleRatioTest { chi_square, df, p_value: chi_squared_sf(chi_square, df as f64), expected })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        // 4906 vs 5094 of 10,000 at 50/50: (94² + 94²)/5000 = 3.5344
        let r = srm(&[4906.0, 5094.0], None).unwrap();
        assert!((r.chi_square - 3.5344).abs() < 1e-12);
        assert_eq!(r.df, 1);
        assert_eq!(r.expected, vec![5000.0, 5000.0]);
        // 1 : 3 design
        let r = srm(&[30.0, 70.0], Some(&[1.0, 3.0])).unwrap();
        assert!((r.chi_square - (25.0 / 25.0 + 25.0 / 75.0)).abs() < 1e-12);
    }

    #[test]
    fn errors() {
        assert!(srm(&[10.0], None).unwrap_err().to_string().contains("at least two arms"));
        assert!(srm(&[1.0, 2.0], Some(&[1.0])).unwrap_err().to_string().contains("1 ratios were given for 2 arms"));
        assert!(srm(&[1.0, 2.0], Some(&[1.0, 0.0])).unwrap_err().to_string().contains("positive"));
    }
}
