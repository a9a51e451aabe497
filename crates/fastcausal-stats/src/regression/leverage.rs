//! HC2 and HC3 standard errors: each row's leverage, from a second pass over the data.
//!
//! HC2 and HC3 weight each row's squared residual by `1 / (1 − h)` and `1 / (1 − h)²`, where
//! `h = w xᵀ (XᵀWX)⁻¹ x` is the row's leverage (the diagonal of the hat matrix). Unlike HC0/HC1,
//! whose meat `Σ w² e² x xᵀ` is a polynomial in the row's values (fourth moments, one pass), the
//! leverage needs `(XᵀWX)⁻¹` first. So the fit takes two passes:
//!
//! 1. the ordinary moments ([`DesignMoments`]) give the least-squares fit: the coefficients `β` and
//!    `(XᵀWX)⁻¹` ([`leverage_parameters`]);
//! 2. a pass of [`LeverageMoments`] — the same moments again, plus, per cell (categorical levels),
//!    with the residual map `g` (`e = g·(1, y, v)`) and the hat map `G` (`h = w (1, y, v)ᵀ G
//!    (1, y, v)`) taken from the first pass, the meat `Σ w² e² / (1 − h)ᵏ u uᵀ` about the
//!    moments' centre. [`super::ols::fit_formula_leverage`] then fits the model from the second
//!    pass's moments (the same fit as the first) with that meat, as statsmodels' `HC2`/`HC3`
//!    (no small-sample factor).

use serde::{Deserialize, Serialize};

use super::design_moments::{DesignMoments, pair, recentre_second};
use super::formula::{Design, Formula};
use super::ols::{CovType, formula_cells, value_count};
use crate::codec::{Reader, StateCodec, Writer};
use crate::error::{Result, StatsError};
use crate::keyed::{KeyValue, Keyed};
use crate::state::RowState;

/// The first pass's fit of one group: the sorted levels of each categorical factor (which fix the
/// design's columns), the coefficients (0 for dropped terms) and `(XᵀWX)⁻¹` over all columns
/// (row-major, zero rows and columns for dropped terms).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LeverageParameters {
    pub levels: Vec<Vec<KeyValue>>,
    pub beta: Vec<f64>,
    pub bread: Vec<f64>,
}

/// The first pass's fit from one group's moments (keyed by the categorical factors' levels).
pub fn leverage_parameters(
    formula: &Formula,
    design: &Design,
    cells: &Keyed<DesignMoments>,
) -> Result<LeverageParameters> {
    let fit = super::ols::fit_formula(formula, design, cells, CovType::Classical, 0.05, 0)?;
    let levels = formula_cells(formula, design, cells, 0)?.levels;
    let k = fit.coefficients.len();
    let kept: Vec<usize> = (0..k).filter(|&t| fit.coefficients[t].estimate.is_some()).collect();
    let scale = fit.residual_std_error * fit.residual_std_error;
    if !(scale > 0.0) {
        return Err(StatsError::InvalidOption {
            option: "cov".into(),
            message: "HC2/HC3 errors of a model that fits every row exactly are undefined (all residuals are 0)".into(),
        });
    }
    let r = kept.len();
    let mut bread = vec![0.0; k * k];
    for (p, &a) in kept.iter().enumerate() {
        for (q, &b) in kept.iter().enumerate() {
            bread[a * k + b] = fit.covariance[p * r + q] / scale;
        }
    }
    let beta = fit.coefficients.iter().map(|c| c.estimate.unwrap_or(0.0)).collect();
    Ok(LeverageParameters { levels, beta, bread })
}

/// The residual map `g` and the hat map `G` (row-major) over `(1, y, v)` for the cell whose
/// categorical factors take the levels `factor_key`, or `None` when a level is not among
/// `parameters.levels`.
pub fn cell_maps(
    formula: &Formula,
    design: &Design,
    parameters: &LeverageParameters,
    factor_key: &[KeyValue],
) -> Option<(Vec<f64>, Vec<f64>)> {
    let columns = design.columns(formula, &parameters.levels);
    let k = columns.len();
    if k != parameters.beta.len() || factor_key.len() != parameters.levels.len() {
        return None;
    }
    let at: Vec<usize> =
        factor_key.iter().zip(&parameters.levels).map(|(v, l)| l.binary_search(v).ok()).collect::<Option<_>>()?;
    let d = value_count(design) + 1;
    // Each column is the input at `index` within the cell, or absent.
    let index: Vec<Option<usize>> = columns
        .iter()
        .map(|c| c.levels.iter().all(|&(key, level)| at[key] == level).then(|| c.value.map_or(0, |v| v + 2)))
        .collect();
    let mut residual = vec![0.0; d];
    residual[1] = 1.0;
    let mut hat = vec![0.0; d * d];
    for (s, is) in index.iter().enumerate() {
        let Some(i) = *is else { continue };
        residual[i] -= parameters.beta[s];
        for (t, jt) in index.iter().enumerate() {
            if let Some(j) = *jt {
                hat[i * d + j] += parameters.bread[s * k + t];
            }
        }
    }
    Some((residual, hat))
}

/// A second pass for HC2/HC3: the moments of [`DesignMoments`] and the leverage-weighted meat.
/// See the [module documentation](self).
#[derive(Debug, Clone, PartialEq)]
pub struct LeverageMoments {
    moments: DesignMoments,
    /// `e = residual · (1, y, v)`.
    residual: Vec<f64>,
    /// `h = w (1, y, v)ᵀ hat (1, y, v)`, row-major.
    hat: Vec<f64>,
    /// 1 for HC2, 2 for HC3.
    power: u8,
    /// Packed `Σ w² e² / (1 − h)ᵏ u_a u_b` about the moments' centre.
    meat: Vec<f64>,
    /// Rows with leverage 1 (within rounding), for which the weights are undefined.
    saturated: u64,
}

const TAG: u8 = 6;
const VERSION: u8 = 1;

impl LeverageMoments {
    /// The empty state over `values` value columns (and a weight if `weighted`), for HC2
    /// (`power` 1) or HC3 (2), with a cell's residual and hat maps.
    pub fn new(values: usize, weighted: bool, power: u8, residual: Vec<f64>, hat: Vec<f64>) -> Self {
        let d = values + 1;
        assert!(residual.len() == d && hat.len() == d * d, "maps over (1, y, v)");
        LeverageMoments {
            moments: DesignMoments::new(values, weighted, false),
            residual,
            hat,
            power,
            meat: vec![0.0; d * (d + 1) / 2],
            saturated: 0,
        }
    }

    /// The ordinary moments of the pass.
    pub fn moments(&self) -> &DesignMoments {
        &self.moments
    }

    /// The meat `Σ w² e² / (1 − h)ᵏ u uᵀ` as a full matrix in the moments' `u` basis, or an error
    /// if a row has leverage 1.
    pub fn meat_matrix(&self) -> Result<Vec<f64>> {
        if self.saturated > 0 {
            return Err(StatsError::InvalidOption {
                option: "cov".into(),
                message: format!(
                    "{} rows have leverage 1 (a term that only they have), where HC2/HC3 are undefined; use 'HC1'",
                    self.saturated
                ),
            });
        }
        let d = self.moments.values() + 1;
        if self.residual.iter().chain(&self.hat).any(|x| !x.is_finite()) {
            return Err(StatsError::Shape(
                "the categorical levels changed between passes over the data; run the query again on data that does not change while it runs".into(),
            ));
        }
        let mut out = vec![0.0; d * d];
        for a in 0..d {
            for b in 0..d {
                out[a * d + b] = self.meat[pair(a, b)];
            }
        }
        Ok(out)
    }

    /// Folds in a batch: one slice per value column (the response first), then the weights.
    pub fn update(&mut self, columns: &[&[f64]]) -> Result<()> {
        self.moments.update(columns)?;
        let values = self.moments.values();
        let d = values + 1;
        let n = columns.first().map_or(0, |c| c.len());
        let centre = self.moments.centre().to_vec();
        let weights = self.moments.weighted().then(|| columns[values]);
        let (mut r, mut u) = (vec![1.0; d], vec![1.0; d]);
        for i in 0..n {
            for a in 1..d {
                r[a] = columns[a - 1][i];
                u[a] = r[a] - centre[a - 1];
            }
            let w = weights.map_or(1.0, |w| w[i]);
            let e: f64 = self.residual.iter().zip(&r).map(|(g, x)| g * x).sum();
            let h = w * (0..d).map(|a| r[a] * (0..d).map(|b| self.hat[a * d + b] * r[b]).sum::<f64>()).sum::<f64>();
            let left = 1.0 - h;
            if !(left > 1e-12) {
                self.saturated += 1;
                continue;
            }
            let omega = w * w * e * e / if self.power == 1 { left } else { left * left };
            for b in 0..d {
                let ob = omega * u[b];
                for a in 0..=b {
                    self.meat[pair(a, b)] += ob * u[a];
                }
            }
        }
        Ok(())
    }

    /// Combines another state of the same cell into this one.
    pub fn merge(&mut self, other: &LeverageMoments) {
        if other.moments.count() == 0 {
            return;
        }
        if self.moments.count() == 0 {
            self.clone_from(other);
            return;
        }
        let (mine, theirs) = (self.moments.centre().to_vec(), other.moments.centre().to_vec());
        self.moments.merge(&other.moments);
        let centre = self.moments.centre();
        let shift = |from: &[f64]| -> Vec<f64> { centre.iter().zip(from).map(|(n, c)| n - c).collect() };
        let (a, b) = (recentre_second(&self.meat, &shift(&mine)), recentre_second(&other.meat, &shift(&theirs)));
        self.meat = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        self.saturated += other.saturated;
    }
}

impl StateCodec for LeverageMoments {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        w.header(TAG, VERSION);
        w.bytes(&self.moments.to_bytes());
        w.u8(self.power);
        w.u64(self.saturated);
        w.f64s(&self.residual);
        w.f64s(&self.hat);
        w.f64s(&self.meat);
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, "leverage moments", TAG, VERSION)?;
        let moments = DesignMoments::decode(r.bytes()?)?;
        let d = moments.values() + 1;
        let power = r.u8()?;
        let saturated = r.u64()?;
        let residual = r.f64s(d)?;
        let hat = r.f64s(d * d)?;
        let meat = r.f64s(d * (d + 1) / 2)?;
        r.finish()?;
        Ok(LeverageMoments { moments, residual, hat, power, meat, saturated })
    }
}

impl RowState for LeverageMoments {
    fn columns(&self) -> usize {
        self.moments.columns()
    }
    fn update(&mut self, columns: &[&[f64]]) -> Result<()> {
        LeverageMoments::update(self, columns)
    }
    fn push(&mut self, row: &[f64]) {
        let columns: Vec<&[f64]> = row.iter().map(std::slice::from_ref).collect();
        // A single row cannot be mis-shaped by the generic adapters; a non-positive weight is
        // reported when the batch path meets it.
        let _ = LeverageMoments::update(self, &columns);
    }
    fn merge(&mut self, other: &Self) {
        LeverageMoments::merge(self, other)
    }
    fn rows(&self) -> u64 {
        self.moments.count()
    }
    fn heap_size(&self) -> usize {
        self.moments.heap_size() + (self.residual.capacity() + self.hat.capacity() + self.meat.capacity()) * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hand_computed_leverage() {
        // y ~ x on x = 0, 1, 2 with y = 0, 2, 1: x̄ = 1, Sxx = 2, slope 0.5, intercept 0.5;
        // residuals −0.5, 1, −0.5; leverages 1/3 + (x − 1)²/2 = 5/6, 1/3, 5/6.
        let formula = Formula::parse("y ~ x").unwrap();
        let design = formula.design();
        let (x, y) = ([0.0, 1.0, 2.0], [0.0, 2.0, 1.0]);
        let mut first = Keyed::new();
        first.entry(&[], || DesignMoments::new(2, false, false)).update(&[&y, &x]).unwrap();
        let p = leverage_parameters(&formula, &design, &first).unwrap();
        assert!((p.beta[0] - 0.5).abs() < 1e-14 && (p.beta[1] - 0.5).abs() < 1e-14, "{:?}", p.beta);
        let (g, h) = cell_maps(&formula, &design, &p, &[]).unwrap();
        let mut s = LeverageMoments::new(2, false, 1, g, h);
        s.update(&[&y, &x]).unwrap();
        // HC2 meat, Σ e²/(1 − h) u uᵀ with u = (1, y − 1, x − 1): the (0, 0) entry is
        // 0.25/(1/6) + 1/(2/3) + 0.25/(1/6) = 1.5 + 1.5 + 1.5 = 4.5; the (x, x) entry 1.5 + 0 + 1.5.
        let m = s.meat_matrix().unwrap();
        assert!((m[0] - 4.5).abs() < 1e-12 && (m[2 * 3 + 2] - 3.0).abs() < 1e-12, "{m:?}");
    }

    #[test]
    fn codec_round_trip() {
        let mut s = LeverageMoments::new(2, true, 2, vec![0.1, 1.0, -0.3], vec![0.01; 9]);
        s.update(&[&[1.0, 2.0, 4.0], &[0.5, -1.0, 3.0], &[1.0, 2.0, 0.5]]).unwrap();
        assert_eq!(LeverageMoments::decode(&s.to_bytes()).unwrap(), s);
        assert!(LeverageMoments::decode(&s.to_bytes()[..12]).is_err());
    }

    proptest! {
        /// merge(update(a), update(b)) == update(a ∪ b).
        #[test]
        fn merge_equals_whole(
            rows in prop::collection::vec((-30f64..30.0, 100f64..120.0, 0.1f64..2.0), 2..150),
            split in 0usize..150,
        ) {
            let split = split % rows.len();
            let fold = |r: &[(f64, f64, f64)]| {
                let y: Vec<f64> = r.iter().map(|t| t.0).collect();
                let x: Vec<f64> = r.iter().map(|t| t.1).collect();
                let w: Vec<f64> = r.iter().map(|t| t.2).collect();
                let mut s = LeverageMoments::new(2, true, 2, vec![-3.0, 1.0, 0.02], vec![1e-3, 0.0, -1e-5, 0.0, 0.0, 0.0, -1e-5, 0.0, 1e-7]);
                s.update(&[&y, &x, &w]).unwrap();
                s
            };
            let mut parts = fold(&rows[..split]);
            parts.merge(&fold(&rows[split..]));
            let whole = fold(&rows);
            let about = |s: &LeverageMoments| {
                let delta: Vec<f64> = [0.0, 110.0].iter().zip(s.moments.centre()).map(|(t, c)| t - c).collect();
                recentre_second(&s.meat, &delta)
            };
            let (p, q) = (about(&parts), about(&whole));
            let scale = q.iter().fold(1.0f64, |m, x| m.max(x.abs()));
            prop_assert!(p.iter().zip(&q).all(|(a, b)| (a - b).abs() <= 1e-9 * scale), "{:?} vs {:?}", p, q);
        }
    }
}
