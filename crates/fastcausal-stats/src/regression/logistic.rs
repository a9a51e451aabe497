//! Logistic regression by exact maximum likelihood: Newton's method (IRLS), one pass over the
//! data per step, as statsmodels' `Logit`.
//!
//! The model is `P(y = 1 | x) = σ(xᵀβ)` with `σ(η) = 1 / (1 + e^{−η})`. Its log-likelihood
//! `ℓ(β) = Σ y η − ln(1 + e^η)` is concave, with gradient `g = Σ (y − p) x` and Hessian
//! `−H`, `H = Σ p (1 − p) x xᵀ`. Newton's step `β ← β + H⁻¹ g` from `β = 0` converges
//! quadratically to the maximum, in a handful of steps.
//!
//! Unlike least squares there are no sufficient statistics independent of `β`, so each step is
//! one pass over the data at the current `β`, and the pass's state is [`LogisticMoments`]: for a
//! fixed linear predictor `η = θ·(1, v)` over the state's input columns `v`, the weighted moments
//! of `u = (1, v − c)` that the step needs — `Σ p(1−p) u uᵀ`, `Σ (y − p) u`, the log-likelihood,
//! and for robust errors `Σ (y − p)² u uᵀ`. As in [`super::ols`] the data is split into cells (a
//! cell per level combination of the categorical terms, and per cluster for clustered errors);
//! within a cell every design column is linear in `(1, v)`, so `θ = Dᵀβ` for the cell's design
//! map `D`, and the cell's moments map to `g` and `H` through `D`. The states merge exactly, so a
//! pass runs on any number of partitions or machines.
//!
//! The loop is driven from outside (each pass is an aggregation over the data; see the engine's
//! multi-pass queries): [`newton_step`] turns a pass's cells into the next step, [`Newton`] decides
//! whether to go on (step halving should the likelihood ever fall, separation and non-convergence
//! reported as errors), and [`fit_formula_logistic`] turns the last pass — at the converged `β` —
//! into the fitted model: coefficients with classical (`H⁻¹`), robust (sandwich) or cluster-robust
//! errors, z tests and normal intervals, the log-likelihood, the null log-likelihood, McFadden's
//! pseudo R², the likelihood-ratio test, AIC/BIC and the AUC of the fitted linear predictor.
//!
//! Conventions follow statsmodels: `HC0` and `HC1` are the same sandwich (statsmodels applies no
//! small-sample factor to maximum-likelihood models), clusters use `G/(G − 1)·(n − 1)/(n − k)`.

use serde::{Deserialize, Serialize};

use super::design_moments::{BLOCK, merged_centre, pair, recentre_first, recentre_second, sum_of_logs};
use super::dots::dot;
use super::formula::{Design, Formula};
use super::linalg::{Factor, matmul};
use super::model::FactorLevels;
use super::ols::{Coefficient, formula_cells, quadratic, to_u_basis};
use crate::codec::{Reader, StateCodec, Writer};
use crate::distributions::{chi_squared_sf, normal_isf, normal_sf};
use crate::error::{Result, StatsError};
use crate::keyed::{KeyValue, Keyed};
use crate::sorted_values::SortedValues;
use crate::state::RowState;

/// A row counts as perfectly predicted when its fitted probability is this close to its outcome.
pub const PERFECT: f64 = 1e-8;

/// The moments of one Newton pass at a fixed linear predictor. See the [module
/// documentation](self).
///
/// Inputs: the outcome (0 or 1), then the regressors' value columns `v`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticMoments {
    /// Input columns: the outcome and the regressor values.
    values: usize,
    /// The linear predictor `η = θ₀ + Σ θⱼ vⱼ` (length `values`).
    theta: Vec<f64>,
    robust: bool,
    keep_scores: bool,
    rows: u64,
    /// Rows with outcome 1.
    ones: u64,
    /// Rows whose fitted probability is within [`PERFECT`] of their outcome.
    perfect: u64,
    /// The first outcome that is neither 0 nor 1, if any.
    invalid: Option<f64>,
    log_likelihood: f64,
    /// The centre `c` of `u = (1, v − c)` (length `values − 1`).
    centre: Vec<f64>,
    /// Packed `Σ p(1−p) u_a u_b`.
    hessian: Vec<f64>,
    /// `Σ (y − p) u_a`.
    score: Vec<f64>,
    /// Packed `Σ (y − p)² u_a u_b` (empty unless robust).
    meat: Vec<f64>,
    /// The linear predictors of the rows with outcome 1 and 0, for the AUC (empty unless kept).
    scores_one: SortedValues,
    scores_zero: SortedValues,
}

const TAG: u8 = 5;
const VERSION: u8 = 1;

impl LogisticMoments {
    /// The empty state over the outcome and `values − 1` regressor columns at the linear
    /// predictor `theta`, keeping the robust meat if `robust` and every row's linear predictor
    /// (for the AUC) if `keep_scores`.
    pub fn new(values: usize, theta: Vec<f64>, robust: bool, keep_scores: bool) -> Self {
        assert!(values >= 1 && theta.len() == values, "θ spans the constant and every regressor value");
        let pairs = values * (values + 1) / 2;
        LogisticMoments {
            values,
            theta,
            robust,
            keep_scores,
            rows: 0,
            ones: 0,
            perfect: 0,
            invalid: None,
            log_likelihood: 0.0,
            centre: vec![0.0; values - 1],
            hessian: vec![0.0; pairs],
            score: vec![0.0; values],
            meat: if robust { vec![0.0; pairs] } else { Vec::new() },
            scores_one: SortedValues::new(),
            scores_zero: SortedValues::new(),
        }
    }

    /// The linear predictor the pass was made at.
    pub fn theta(&self) -> &[f64] {
        &self.theta
    }

    /// Rows seen.
    pub fn count(&self) -> u64 {
        self.rows
    }

    /// Folds in a batch: the outcome column, then each regressor value column.
    pub fn update(&mut self, columns: &[&[f64]]) -> Result<()> {
        if columns.len() != self.values {
            return Err(StatsError::Shape(format!(
                "{} columns given to a logistic state over {}",
                columns.len(),
                self.values
            )));
        }
        let n = columns[0].len();
        if columns.iter().any(|c| c.len() != n) {
            return Err(StatsError::Shape("columns of different lengths".into()));
        }
        if n == 0 {
            return Ok(());
        }
        let (y, v) = (columns[0], &columns[1..]);
        let d = self.values;
        if self.rows == 0 {
            for (c, column) in self.centre.iter_mut().zip(v) {
                *c = column.iter().sum::<f64>() / n as f64;
            }
        }
        let block = BLOCK.min(n);
        let mut eta = vec![0.0; block];
        let mut weight = vec![0.0; block];
        let mut resid = vec![0.0; block];
        let mut one_plus = vec![0.0; block];
        // The block's linear predictors by outcome, for the AUC (buffers reused across blocks).
        let (mut ones, mut zeros) = (Vec::with_capacity(block), Vec::with_capacity(block));
        let mut u = vec![0.0; d * block];
        let mut wu = vec![0.0; d * block];
        let mut ru = if self.robust { vec![0.0; d * block] } else { Vec::new() };
        let mut start = 0;
        while start < n {
            let len = block.min(n - start);
            let rows = start..start + len;
            let eta = &mut eta[..len];
            eta.fill(self.theta[0]);
            for (column, &t) in v.iter().zip(&self.theta[1..]) {
                eta.iter_mut().zip(&column[rows.clone()]).for_each(|(e, x)| *e += t * x);
            }
            let mut log_likelihood = 0.0;
            for i in 0..len {
                let (yi, ei) = (y[start + i], eta[i]);
                if yi != 0.0 && yi != 1.0 && self.invalid.is_none() {
                    self.invalid = Some(yi);
                }
                // p and 1 − p from e = exp(−|η|) without cancellation; w = p(1 − p) = e / (1 + e)².
                let e = (-ei.abs()).exp();
                let p = if ei >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
                weight[i] = e / ((1.0 + e) * (1.0 + e));
                resid[i] = yi - p;
                self.perfect += u64::from(resid[i].abs() <= PERFECT);
                self.ones += u64::from(yi == 1.0);
                // ℓ = y η − ln(1 + e^η) = y η − max(η, 0) − ln(1 + e); the logarithms of a block
                // are taken at once, as one logarithm of their product.
                log_likelihood += yi * ei - ei.max(0.0);
                one_plus[i] = 1.0 + e;
            }
            self.log_likelihood += log_likelihood - sum_of_logs(&one_plus[..len]);
            u[..len].fill(1.0);
            for a in 1..d {
                let c = self.centre[a - 1];
                u[a * block..a * block + len].iter_mut().zip(&v[a - 1][rows.clone()]).for_each(|(o, x)| *o = x - c);
            }
            for a in 0..d {
                let ua = &u[a * block..a * block + len];
                wu[a * block..a * block + len].iter_mut().zip(ua).zip(&weight).for_each(|((o, x), w)| *o = x * w);
                self.score[a] += dot(&resid[..len], ua);
                if self.robust {
                    ru[a * block..a * block + len].iter_mut().zip(ua).zip(&resid).for_each(|((o, x), r)| *o = x * r);
                }
            }
            for b in 0..d {
                for a in 0..=b {
                    let ub = &u[b * block..b * block + len];
                    self.hessian[pair(a, b)] += dot(&wu[a * block..a * block + len], ub);
                    if self.robust {
                        self.meat[pair(a, b)] += dot(&ru[a * block..a * block + len], &ru[b * block..b * block + len]);
                    }
                }
            }
            if self.keep_scores {
                ones.clear();
                zeros.clear();
                for (&yi, &ei) in y[rows.clone()].iter().zip(eta.iter()) {
                    if yi == 1.0 { ones.push(ei) } else { zeros.push(ei) }
                }
                self.scores_one.extend(&ones);
                self.scores_zero.extend(&zeros);
            }
            start += len;
        }
        self.rows += n as u64;
        Ok(())
    }

    /// Combines another state of the same pass into this one.
    pub fn merge(&mut self, other: &LogisticMoments) {
        debug_assert_eq!((self.values, self.robust, self.keep_scores), (other.values, other.robust, other.keep_scores));
        if other.rows == 0 {
            return;
        }
        if self.rows == 0 {
            self.clone_from(other);
            return;
        }
        let centre = merged_centre(&self.centre, self.rows, &other.centre, other.rows);
        let shift = |s: &LogisticMoments| -> Vec<f64> { centre.iter().zip(&s.centre).map(|(n, c)| n - c).collect() };
        let (da, db) = (shift(self), shift(other));
        let add = |x: Vec<f64>, y: Vec<f64>| -> Vec<f64> { x.iter().zip(&y).map(|(a, b)| a + b).collect() };
        self.hessian = add(recentre_second(&self.hessian, &da), recentre_second(&other.hessian, &db));
        self.score = add(recentre_first(&self.score, &da), recentre_first(&other.score, &db));
        if self.robust {
            self.meat = add(recentre_second(&self.meat, &da), recentre_second(&other.meat, &db));
        }
        self.centre = centre;
        self.rows += other.rows;
        self.ones += other.ones;
        self.perfect += other.perfect;
        self.invalid = self.invalid.or(other.invalid);
        self.log_likelihood += other.log_likelihood;
        self.scores_one.merge(&other.scores_one);
        self.scores_zero.merge(&other.scores_zero);
    }

    fn full(packed: &[f64], d: usize) -> Vec<f64> {
        let mut out = vec![0.0; d * d];
        for a in 0..d {
            for b in 0..d {
                out[a * d + b] = packed[pair(a, b)];
            }
        }
        out
    }
}

impl StateCodec for LogisticMoments {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        w.header(TAG, VERSION);
        w.u64(self.values as u64);
        w.u8(u8::from(self.robust) | (u8::from(self.keep_scores) << 1));
        w.u64(self.rows);
        w.u64(self.ones);
        w.u64(self.perfect);
        w.f64s(&[self.invalid.unwrap_or(f64::NAN), self.log_likelihood]);
        w.f64s(&self.theta);
        w.f64s(&self.centre);
        w.f64s(&self.hessian);
        w.f64s(&self.score);
        w.f64s(&self.meat);
        w.bytes(&self.scores_one.to_bytes());
        w.bytes(&self.scores_zero.to_bytes());
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, "logistic moments", TAG, VERSION)?;
        let values = r.u64()? as usize;
        if values == 0 || values > 1 << 10 {
            return Err(StatsError::CorruptState(format!("logistic state claims {values} columns")));
        }
        let flags = r.u8()?;
        let mut s = LogisticMoments::new(values, vec![0.0; values], flags & 1 != 0, flags & 2 != 0);
        s.rows = r.u64()?;
        s.ones = r.u64()?;
        s.perfect = r.u64()?;
        let scalars = r.f64s(2)?;
        (s.invalid, s.log_likelihood) = ((!scalars[0].is_nan()).then_some(scalars[0]), scalars[1]);
        s.theta = r.f64s(values)?;
        s.centre = r.f64s(values - 1)?;
        s.hessian = r.f64s(s.hessian.len())?;
        s.score = r.f64s(values)?;
        s.meat = r.f64s(s.meat.len())?;
        s.scores_one = SortedValues::decode(r.bytes()?)?;
        s.scores_zero = SortedValues::decode(r.bytes()?)?;
        r.finish()?;
        Ok(s)
    }
}

impl RowState for LogisticMoments {
    fn columns(&self) -> usize {
        self.values
    }
    fn update(&mut self, columns: &[&[f64]]) -> Result<()> {
        LogisticMoments::update(self, columns)
    }
    fn push(&mut self, row: &[f64]) {
        let columns: Vec<&[f64]> = row.iter().map(std::slice::from_ref).collect();
        // The generic adapters always pass one value per input; a bad outcome is recorded in the
        // state and reported when the pass is finished.
        let _ = LogisticMoments::update(self, &columns);
    }
    fn merge(&mut self, other: &Self) {
        LogisticMoments::merge(self, other)
    }
    fn rows(&self) -> u64 {
        self.rows
    }
    fn seal(&mut self) {
        self.scores_one.sort();
        self.scores_zero.sort();
    }
    fn heap_size(&self) -> usize {
        (self.theta.capacity()
            + self.centre.capacity()
            + self.hessian.capacity()
            + self.score.capacity()
            + self.meat.capacity()
            + self.scores_one.len()
            + self.scores_zero.len())
            * 8
    }
}

/// One group's model parameters between passes: the sorted levels of each categorical factor
/// (which fix the design's columns) and the coefficients, one per design column (0 for a dropped
/// column).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LogisticParameters {
    pub levels: Vec<Vec<KeyValue>>,
    pub beta: Vec<f64>,
    /// Newton steps taken to reach `beta`.
    pub iterations: u32,
}

/// The linear predictor `θ` over a cell's inputs `(1, v)` for the cell whose categorical factors
/// take the levels `factor_key` (in [`Design::keys`] order), or `None` when a level is not among
/// `parameters.levels`.
pub fn cell_theta(
    formula: &Formula,
    design: &Design,
    parameters: &LogisticParameters,
    factor_key: &[KeyValue],
) -> Option<Vec<f64>> {
    let columns = design.columns(formula, &parameters.levels);
    if columns.len() != parameters.beta.len() || factor_key.len() != parameters.levels.len() {
        return None;
    }
    let at: Vec<usize> =
        factor_key.iter().zip(&parameters.levels).map(|(v, l)| l.binary_search(v).ok()).collect::<Option<_>>()?;
    let mut theta = vec![0.0; design.values.len() + 1];
    for (c, b) in columns.iter().zip(&parameters.beta) {
        if c.levels.iter().all(|&(k, level)| at[k] == level) {
            theta[c.value.map_or(0, |v| v + 1)] += b;
        }
    }
    Some(theta)
}

/// One pass's result for one group: where it was made, the Newton step from there and what the
/// loop needs to judge it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The parameters the pass was made at (levels from the pass's cells).
    pub parameters: LogisticParameters,
    /// The Newton step `H⁻¹ g` (0 for dropped columns).
    pub delta: Vec<f64>,
    pub log_likelihood: f64,
    pub rows: u64,
    pub ones: u64,
    pub perfect: u64,
}

/// What [`newton_step`] and [`fit_formula_logistic`] share: the pass summed over the cells in
/// the coefficients' space.
struct Summed {
    terms: Vec<String>,
    levels: Vec<Vec<KeyValue>>,
    /// Per cell, each design column in the cell's `u` basis.
    h: Vec<Vec<Vec<f64>>>,
    gradient: Vec<f64>,
    hessian: Vec<f64>,
    factor: Factor,
    clusters: Vec<Vec<u32>>,
    rows: u64,
    ones: u64,
    perfect: u64,
    log_likelihood: f64,
}

fn sum_cells(formula: &Formula, design: &Design, cells: &Keyed<LogisticMoments>, clusterings: usize) -> Result<Summed> {
    let cell_design = formula_cells(formula, design, cells, clusterings)?;
    let k = cell_design.columns.len();
    if k == 0 {
        return Err(StatsError::InvalidOption { option: "formula".into(), message: "the model has no terms".into() });
    }
    let mut s = Summed {
        terms: cell_design.columns.iter().map(|c| c.name.clone()).collect(),
        levels: cell_design.levels,
        h: Vec::with_capacity(cells.len()),
        gradient: vec![0.0; k],
        hessian: vec![0.0; k * k],
        factor: Factor::new(&[], 0),
        clusters: cell_design.clusters,
        rows: 0,
        ones: 0,
        perfect: 0,
        log_likelihood: 0.0,
    };
    for ((_, m), rows) in cells.entries().iter().zip(&cell_design.rows) {
        if let Some(bad) = m.invalid {
            return Err(StatsError::InvalidOption {
                option: "outcome".into(),
                message: format!(
                    "logistic regression needs an outcome of 0 and 1 (or false and true), but found {}; recode it, e.g. CASE WHEN y > 0 THEN 1 ELSE 0 END",
                    bad
                ),
            });
        }
        if m.theta.iter().any(|t| !t.is_finite()) {
            return Err(StatsError::Shape(
                "a cell's linear predictor is undefined: the data changed between passes (a level appeared that an earlier pass did not see)".into(),
            ));
        }
        // The design rows are over (1, y, v); the state's inputs are (1, v).
        let h: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| {
                let mut over_v = vec![r[0]];
                over_v.extend_from_slice(&r[2..]);
                to_u_basis(&over_v, &m.centre)
            })
            .collect();
        let d = m.values;
        let full = LogisticMoments::full(&m.hessian, d);
        for a in 0..k {
            s.gradient[a] += h[a].iter().zip(&m.score).map(|(x, y)| x * y).sum::<f64>();
            for b in 0..=a {
                let v = quadratic(&h[a], &full, &h[b]);
                s.hessian[a * k + b] += v;
                if a != b {
                    s.hessian[b * k + a] += v;
                }
            }
        }
        s.h.push(h);
        s.rows += m.rows;
        s.ones += m.ones;
        s.perfect += m.perfect;
        s.log_likelihood += m.log_likelihood;
    }
    s.factor = Factor::new(&s.hessian, k);
    Ok(s)
}

fn outcome_check(rows: u64, ones: u64) -> Result<()> {
    if rows == 0 {
        return Err(StatsError::TooFewRows { needed: 2, found: 0 });
    }
    if ones == 0 || ones == rows {
        return Err(StatsError::InvalidOption {
            option: "outcome".into(),
            message: format!(
                "the outcome is {} in all {rows} rows, so there is nothing to model (the coefficients would be infinite)",
                if ones == 0 { 0 } else { 1 }
            ),
        });
    }
    Ok(())
}

/// The Newton step from one group's pass made at `at` (β = 0 for `None`), its cells keyed by the
/// categorical factors' levels, then by `clusterings` cluster values.
pub fn newton_step(
    formula: &Formula,
    design: &Design,
    cells: &Keyed<LogisticMoments>,
    clusterings: usize,
    at: Option<&LogisticParameters>,
) -> Result<Step> {
    let s = sum_cells(formula, design, cells, clusterings)?;
    outcome_check(s.rows, s.ones)?;
    let beta = evaluation_point(&s, at)?;
    let iterations = at.map_or(0, |p| p.iterations);
    let g: Vec<f64> = s.factor.kept.iter().map(|&t| s.gradient[t]).collect();
    let step = s.factor.solve(&g);
    let mut delta = vec![0.0; s.terms.len()];
    for (&t, d) in s.factor.kept.iter().zip(step) {
        delta[t] = d;
    }
    Ok(Step {
        parameters: LogisticParameters { levels: s.levels, beta, iterations },
        delta,
        log_likelihood: s.log_likelihood,
        rows: s.rows,
        ones: s.ones,
        perfect: s.perfect,
    })
}

/// The coefficients a pass was made at: `at`'s, after checking that the pass saw the same levels
/// (so the same design columns); zeros for a first pass.
fn evaluation_point(s: &Summed, at: Option<&LogisticParameters>) -> Result<Vec<f64>> {
    match at {
        None => Ok(vec![0.0; s.terms.len()]),
        Some(p) if p.levels == s.levels && p.beta.len() == s.terms.len() => Ok(p.beta.clone()),
        Some(_) => Err(StatsError::Shape(
            "the categorical levels changed between passes over the data; run the query again on data that does not change while it runs".into(),
        )),
    }
}

/// Whether to make another pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Make a pass at [`Newton::parameters`].
    Continue,
    /// Converged: the last pass (the fit) is to be made at [`Newton::parameters`].
    Converged,
}

/// The Newton loop of one group: from each pass's [`Step`], the parameters of the next pass.
#[derive(Debug, Clone, Default)]
pub struct Newton {
    parameters: Option<LogisticParameters>,
    best: Option<(f64, Vec<f64>, Vec<f64>)>,
    halvings: u32,
    steps: u32,
    /// The relative size of the previous full step.
    last_change: Option<f64>,
}

impl Newton {
    /// Relative size of the last Newton step below which the loop stops (the pass after it is
    /// the fit, whose own step is then far below 1e-10 by quadratic convergence).
    pub const TOLERANCE: f64 = 1e-8;
    /// The loop also stops once the steps shrink quadratically (`|δₜ| ≤ 1e-4`) and the next one,
    /// predicted as `|δₜ|³ / |δₜ₋₁|²`, is below this: the next point is then the maximum to
    /// rounding, and the fit's pass checks it (its own step must be below 1e-10).
    pub const PREDICTED: f64 = 1e-12;
    /// Newton steps before giving up.
    pub const MAX_STEPS: u32 = 50;

    /// A loop starting at β = 0.
    pub fn new() -> Self {
        Newton::default()
    }

    /// The parameters of the next pass (`None` before the first pass: β = 0).
    pub fn parameters(&self) -> Option<&LogisticParameters> {
        self.parameters.as_ref()
    }

    /// Takes the result of the pass made at [`Newton::parameters`].
    pub fn advance(&mut self, step: &Step) -> Result<Progress> {
        let ll = step.log_likelihood;
        if step.perfect == step.rows {
            return Err(separation(step, true));
        }
        if let Some((best_ll, beta, delta)) = &self.best
            && ll < best_ll - 1e-12 * best_ll.abs()
        {
            // The likelihood fell: halve the last step (never needed for a concave likelihood
            // far from separation, but it keeps the loop safe).
            self.halvings += 1;
            if self.halvings > 40 {
                return Err(not_converged(step, self.steps));
            }
            let scale = 0.5f64.powi(self.halvings as i32);
            let next = beta.iter().zip(delta).map(|(b, d)| b + scale * d).collect();
            self.parameters = Some(LogisticParameters { beta: next, ..step.parameters.clone() });
            return Ok(Progress::Continue);
        }
        self.halvings = 0;
        self.steps += 1;
        let beta = &step.parameters.beta;
        let change = beta.iter().zip(&step.delta).map(|(b, d)| d.abs() / b.abs().max(1.0)).fold(0.0, f64::max);
        let next: Vec<f64> = beta.iter().zip(&step.delta).map(|(b, d)| b + d).collect();
        self.best = Some((ll, beta.clone(), step.delta.clone()));
        self.parameters =
            Some(LogisticParameters { levels: step.parameters.levels.clone(), beta: next, iterations: self.steps });
        if !change.is_finite() {
            return Err(not_converged(step, self.steps));
        }
        let predicted = self.last_change.map(|prev| change.powi(3) / (prev * prev));
        self.last_change = Some(change);
        if change <= Self::TOLERANCE || (change <= 1e-4 && predicted.is_some_and(|p| p <= Self::PREDICTED)) {
            return Ok(Progress::Converged);
        }
        if self.steps >= Self::MAX_STEPS {
            return Err(not_converged(step, self.steps));
        }
        Ok(Progress::Continue)
    }
}

fn separation(step: &Step, complete: bool) -> StatsError {
    StatsError::InvalidOption {
        option: "formula".into(),
        message: format!(
            "perfect separation: {} of {} rows are predicted {} — the regressors separate the outcome, so the maximum-likelihood coefficients are infinite; drop or merge the separating regressor, or use a penalised model",
            step.perfect,
            step.rows,
            if complete { "exactly" } else { "with certainty" }
        ),
    }
}

fn not_converged(step: &Step, steps: u32) -> StatsError {
    if step.perfect > 0 {
        return StatsError::InvalidOption {
            option: "formula".into(),
            message: format!(
                "the fit did not converge in {steps} Newton steps and {} of {} rows are predicted with certainty (probability within {PERFECT:e} of the outcome): quasi-complete separation, so some coefficients are infinite; drop or merge the separating regressor, or use a penalised model",
                step.perfect, step.rows
            ),
        };
    }
    StatsError::InvalidOption {
        option: "formula".into(),
        message: format!("the fit did not converge in {steps} Newton steps"),
    }
}

/// The covariance estimator of a logistic fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogisticCov {
    /// The inverse Hessian.
    #[default]
    Classical,
    /// The sandwich `H⁻¹ (Σ (y − p)² x xᵀ) H⁻¹` (statsmodels' `HC0`; its `HC1` is the same).
    Robust,
    /// Cluster-robust, `G/(G − 1)·(n − 1)/(n − k)` × the sandwich of per-cluster score sums; two-way
    /// as `V₁ + V₂ − V₁₂`.
    Cluster,
}

impl LogisticCov {
    /// Whether the state keeps the robust meat.
    pub fn needs_meat(self) -> bool {
        self == LogisticCov::Robust
    }
}

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogisticFit {
    /// Coefficient rows; `t_value` holds the z statistic.
    pub coefficients: Vec<Coefficient>,
    pub n: u64,
    pub df_model: f64,
    pub df_resid: f64,
    pub log_likelihood: f64,
    pub ll_null: f64,
    pub pseudo_r_squared: f64,
    pub llr: f64,
    pub llr_p_value: f64,
    pub aic: f64,
    pub bic: f64,
    /// Area under the ROC curve of the fitted linear predictor (`None` unless scores were kept).
    pub auc: Option<f64>,
    pub cov_type: &'static str,
    pub converged: bool,
    pub iterations: u32,
    pub dropped: Vec<String>,
    pub covariance: Vec<f64>,
    /// The sorted levels of each categorical factor.
    pub levels: Vec<FactorLevels>,
}

/// The fitted model from the last pass of one group, made at the converged coefficients `at`.
pub fn fit_formula_logistic(
    formula: &Formula,
    design: &Design,
    cells: &Keyed<LogisticMoments>,
    clusterings: usize,
    at: &LogisticParameters,
    cov: LogisticCov,
    alpha: f64,
) -> Result<LogisticFit> {
    let s = sum_cells(formula, design, cells, clusterings)?;
    outcome_check(s.rows, s.ones)?;
    let beta = evaluation_point(&s, Some(at))?;
    let iterations = at.iterations;
    let kept = &s.factor.kept;
    let rank = kept.len();
    let n = s.rows;
    let g: Vec<f64> = kept.iter().map(|&t| s.gradient[t]).collect();
    let last_step = s.factor.solve(&g);
    let converged =
        kept.iter().zip(&last_step).all(|(&t, d)| d.abs() <= 1e-10 * beta[t].abs().max(1.0)) && s.perfect < s.rows;
    let inverse = s.factor.inverse();
    let covariance = match cov {
        LogisticCov::Classical => inverse.clone(),
        LogisticCov::Robust => {
            let mut meat = vec![0.0; rank * rank];
            for (h, (_, m)) in s.h.iter().zip(cells.entries()) {
                let full = LogisticMoments::full(&m.meat, m.values);
                for (p, &a) in kept.iter().enumerate() {
                    for (q, &b) in kept.iter().enumerate() {
                        meat[p * rank + q] += quadratic(&h[a], &full, &h[b]);
                    }
                }
            }
            sandwich(&inverse, &meat, rank)
        }
        LogisticCov::Cluster => {
            if s.clusters.is_empty() {
                return Err(StatsError::Shape("cluster-robust errors need the clusters".into()));
            }
            let scores: Vec<Vec<f64>> = s
                .h
                .iter()
                .zip(cells.entries())
                .map(|(h, (_, m))| kept.iter().map(|&t| h[t].iter().zip(&m.score).map(|(x, y)| x * y).sum()).collect())
                .collect();
            let mut total = vec![0.0; rank * rank];
            for (ids, sign) in super::ols::clusterings(&s.clusters) {
                let groups = ids.iter().max().map_or(0, |&m| m as usize + 1);
                if groups < 2 {
                    return Err(StatsError::InvalidOption {
                        option: "cluster".into(),
                        message: format!("cluster-robust errors need at least 2 clusters, but found {groups}"),
                    });
                }
                let mut sums = vec![0.0; groups * rank];
                for (sc, &id) in scores.iter().zip(&ids) {
                    sums[id as usize * rank..(id as usize + 1) * rank].iter_mut().zip(sc).for_each(|(a, b)| *a += b);
                }
                let mut meat = vec![0.0; rank * rank];
                for sc in sums.chunks_exact(rank) {
                    for a in 0..rank {
                        for b in 0..rank {
                            meat[a * rank + b] += sc[a] * sc[b];
                        }
                    }
                }
                let gf = groups as f64;
                let correction = sign * gf / (gf - 1.0) * (n as f64 - 1.0) / (n as f64 - rank as f64);
                let v = sandwich(&inverse, &meat, rank);
                total.iter_mut().zip(&v).for_each(|(t, v)| *t += correction * v);
            }
            total
        }
    };
    let quantile = normal_isf(alpha / 2.0);
    let mut coefficients: Vec<Coefficient> =
        s.terms.iter().map(|t| Coefficient { term: t.clone(), ..Default::default() }).collect();
    for (q, &t) in kept.iter().enumerate() {
        let (est, se) = (beta[t], covariance[q * rank + q].max(0.0).sqrt());
        let c = &mut coefficients[t];
        c.estimate = Some(est);
        c.std_error = Some(se);
        c.t_value = Some(est / se);
        c.p_value = Some(2.0 * normal_sf((est / se).abs()));
        c.ci_lower = Some(est - quantile * se);
        c.ci_upper = Some(est + quantile * se);
    }
    // The constant-only model's maximum, in closed form. Degrees of freedom as statsmodels counts
    // them for maximum-likelihood models: rank − 1, with or without a constant.
    let (nf, ones) = (n as f64, s.ones as f64);
    let rate = ones / nf;
    let ll_null = ones * rate.ln() + (nf - ones) * (-rate).ln_1p();
    let df_model = rank as f64 - 1.0;
    let llr = 2.0 * (s.log_likelihood - ll_null);
    let auc = auc(cells);
    Ok(LogisticFit {
        coefficients,
        n,
        df_model,
        df_resid: nf - rank as f64,
        log_likelihood: s.log_likelihood,
        ll_null,
        pseudo_r_squared: 1.0 - s.log_likelihood / ll_null,
        llr,
        llr_p_value: if df_model > 0.0 { chi_squared_sf(llr, df_model) } else { f64::NAN },
        aic: -2.0 * s.log_likelihood + 2.0 * rank as f64,
        bic: -2.0 * s.log_likelihood + nf.ln() * rank as f64,
        auc,
        cov_type: match cov {
            LogisticCov::Classical => "nonrobust",
            LogisticCov::Robust => "HC0",
            LogisticCov::Cluster => "cluster",
        },
        converged,
        iterations,
        dropped: s.factor.dropped.iter().map(|&t| s.terms[t].clone()).collect(),
        covariance,
        levels: super::ols::factor_levels(formula, design, &s.levels),
    })
}

fn sandwich(bread: &[f64], meat: &[f64], k: usize) -> Vec<f64> {
    matmul(&matmul(bread, meat, k, k, k), bread, k, k, k)
}

/// The AUC of the kept linear predictors: the probability that a row with outcome 1 scores above
/// a row with outcome 0, ties counting one half (the Mann–Whitney U over n₁n₀).
fn auc(cells: &Keyed<LogisticMoments>) -> Option<f64> {
    let entries = cells.entries();
    if entries.is_empty() || !entries.iter().all(|(_, m)| m.keep_scores) {
        return None;
    }
    let gather = |pick: fn(&LogisticMoments) -> &SortedValues| {
        let mut all = SortedValues::new();
        for (_, m) in entries {
            all.merge(pick(m));
        }
        all.into_sorted()
    };
    let ones = gather(|m| &m.scores_one);
    let zeros = gather(|m| &m.scores_zero);
    if ones.is_empty() || zeros.is_empty() {
        return None;
    }
    // Twice the U statistic, as an exact integer.
    let (mut below, mut twice_u) = (0usize, 0u128);
    let mut i = 0;
    while i < ones.len() {
        let x = ones[i];
        let mut same = i;
        while same < ones.len() && ones[same] == x {
            same += 1;
        }
        while below < zeros.len() && zeros[below] < x {
            below += 1;
        }
        let mut tied = below;
        while tied < zeros.len() && zeros[tied] == x {
            tied += 1;
        }
        twice_u += (same - i) as u128 * (2 * below + (tied - below)) as u128;
        i = same;
    }
    Some(twice_u as f64 / (2.0 * ones.len() as f64 * zeros.len() as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// y ~ x by Newton from the moments, on rows small enough to check by hand.
    fn passes(x: &[f64], y: &[f64], robust: bool) -> (Formula, Design, Keyed<LogisticMoments>, LogisticParameters) {
        let formula = Formula::parse("y ~ x").unwrap();
        let design = formula.design();
        let mut newton = Newton::new();
        loop {
            let theta = newton
                .parameters()
                .map(|p| cell_theta(&formula, &design, p, &[]).unwrap())
                .unwrap_or_else(|| vec![0.0; 2]);
            let mut cells = Keyed::new();
            cells.entry(&[], || LogisticMoments::new(2, theta.clone(), robust, true)).update(&[y, x]).unwrap();
            let step = newton_step(&formula, &design, &cells, 0, newton.parameters()).unwrap();
            if newton.advance(&step).unwrap() == Progress::Converged {
                let p = newton.parameters().unwrap().clone();
                let theta = cell_theta(&formula, &design, &p, &[]).unwrap();
                let mut last = Keyed::new();
                last.entry(&[], || LogisticMoments::new(2, theta, robust, true)).update(&[y, x]).unwrap();
                return (formula, design, last, p);
            }
        }
    }

    #[test]
    fn score_is_zero_and_the_fit_matches_a_hand_check() {
        // x = 0, 0, 1, 1 with y = 0, 1, 1, 1 … the MLE has logit p = b0 + b1 x with
        // p(x=0) = 1/2 and p(x=1) = 1 — separated; so use x = 0,0,0,1,1,1 and y = 0,0,1,0,1,1:
        // p(0) = 1/3, p(1) = 2/3, so b0 = ln(1/2), b1 = ln 4.
        let x = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let y = [0.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        let (formula, design, cells, p) = passes(&x, &y, false);
        let fit = fit_formula_logistic(&formula, &design, &cells, 0, &p, LogisticCov::Classical, 0.05).unwrap();
        let b: Vec<f64> = fit.coefficients.iter().map(|c| c.estimate.unwrap()).collect();
        assert!((b[0] - 0.5f64.ln()).abs() < 1e-12 && (b[1] - 4f64.ln()).abs() < 1e-12, "{b:?}");
        // Var(b0) = 1/(n p(1−p)) at x = 0: 1/(3·2/9) = 1.5; Var(b1) = 1.5 + 1.5 = 3.
        let se: Vec<f64> = fit.coefficients.iter().map(|c| c.std_error.unwrap()).collect();
        assert!((se[0] - 1.5f64.sqrt()).abs() < 1e-10 && (se[1] - 3f64.sqrt()).abs() < 1e-10, "{se:?}");
        // ℓ = 3 ln(1/3) + 3 ln(2/3) … each group: ln(2/3)·2 + ln(1/3).
        let ll = 2.0 * (2.0 * (2.0f64 / 3.0).ln() + (1.0f64 / 3.0).ln());
        assert!((fit.log_likelihood - ll).abs() < 1e-12);
        assert!((fit.ll_null - 6.0 * 0.5f64.ln()).abs() < 1e-12);
        // AUC: ones score (0 at x=0: 1 row, ln 4 − ln 2 at x=1: 2 rows); zeros (2 at x=0, 1 at x=1).
        // Pairs (one, zero) with one above: x=1 ones over x=0 zeros = 2·2 = 4; ties: 1·2 + 2·1 = 4.
        assert!((fit.auc.unwrap() - (4.0 + 0.5 * 4.0) / 9.0).abs() < 1e-15);
        assert!(fit.converged);
    }

    #[test]
    fn separation_and_bad_outcomes_are_errors() {
        let x = [0.0, 1.0, 2.0, 3.0];
        let formula = Formula::parse("y ~ x").unwrap();
        let design = formula.design();
        let mut cells = Keyed::new();
        cells
            .entry(&[], || LogisticMoments::new(2, vec![0.0; 2], false, false))
            .update(&[&[0.0, 0.0, 2.0, 1.0], &x])
            .unwrap();
        let e = newton_step(&formula, &design, &cells, 0, None).unwrap_err().to_string();
        assert!(e.contains("outcome of 0 and 1") && e.contains("found 2"), "{e}");
        // y = 1 exactly where x > 1.5: complete separation.
        let y = [0.0, 0.0, 1.0, 1.0];
        let mut newton = Newton::new();
        let err = loop {
            let theta =
                newton.parameters().map(|p| cell_theta(&formula, &design, p, &[]).unwrap()).unwrap_or(vec![0.0; 2]);
            let mut cells = Keyed::new();
            cells.entry(&[], || LogisticMoments::new(2, theta.clone(), false, false)).update(&[&y, &x]).unwrap();
            let step = newton_step(&formula, &design, &cells, 0, newton.parameters()).unwrap();
            match newton.advance(&step) {
                Ok(_) => continue,
                Err(e) => break e.to_string(),
            }
        };
        assert!(err.contains("separation"), "{err}");
        let mut cells = Keyed::new();
        cells.entry(&[], || LogisticMoments::new(2, vec![0.0; 2], false, false)).update(&[&[1.0; 4], &x]).unwrap();
        let e = newton_step(&formula, &design, &cells, 0, None).unwrap_err().to_string();
        assert!(e.contains("is 1 in all 4 rows"), "{e}");
    }

    #[test]
    fn theta_follows_the_categorical_cells() {
        // y ~ C(g) + x with levels a, b: columns Intercept, C(g)[T.b], x.
        let formula = Formula::parse("y ~ C(g) + x").unwrap();
        let design = formula.design();
        let p = LogisticParameters {
            levels: vec![vec![KeyValue::Text("a".into()), KeyValue::Text("b".into())]],
            beta: vec![1.0, 2.0, 3.0],
            iterations: 0,
        };
        assert_eq!(cell_theta(&formula, &design, &p, &[KeyValue::Text("a".into())]), Some(vec![1.0, 3.0]));
        assert_eq!(cell_theta(&formula, &design, &p, &[KeyValue::Text("b".into())]), Some(vec![3.0, 3.0]));
        assert_eq!(cell_theta(&formula, &design, &p, &[KeyValue::Text("c".into())]), None);
    }

    #[test]
    fn codec_round_trip() {
        let mut s = LogisticMoments::new(3, vec![0.1, 0.2, -0.3], true, true);
        s.update(&[&[0.0, 1.0, 1.0], &[1.0, 2.0, 4.0], &[0.5, -1.0, 3.0]]).unwrap();
        s.seal();
        assert_eq!(LogisticMoments::decode(&s.to_bytes()).unwrap(), s);
        assert!(LogisticMoments::decode(&s.to_bytes()[..12]).is_err());
    }

    proptest! {
        /// merge(update(a), update(b)) == update(a ∪ b).
        #[test]
        fn merge_equals_whole(
            rows in prop::collection::vec((0u8..2, -30f64..30.0, 100f64..120.0), 2..200),
            split in 0usize..200,
        ) {
            let split = split % rows.len();
            let fold = |r: &[(u8, f64, f64)]| {
                let y: Vec<f64> = r.iter().map(|t| t.0 as f64).collect();
                let a: Vec<f64> = r.iter().map(|t| t.1).collect();
                let b: Vec<f64> = r.iter().map(|t| t.2).collect();
                let mut s = LogisticMoments::new(3, vec![0.5, 0.1, -0.004], true, true);
                s.update(&[&y, &a, &b]).unwrap();
                s
            };
            let mut parts = fold(&rows[..split]);
            parts.merge(&fold(&rows[split..]));
            let whole = fold(&rows);
            prop_assert_eq!((parts.rows, parts.ones, parts.perfect), (whole.rows, whole.ones, whole.perfect));
            let about = |s: &LogisticMoments| {
                let delta: Vec<f64> = [0.0, 110.0].iter().zip(&s.centre).map(|(t, c)| t - c).collect();
                (recentre_second(&s.hessian, &delta), recentre_first(&s.score, &delta), recentre_second(&s.meat, &delta))
            };
            let (p, q) = (about(&parts), about(&whole));
            let close = |u: &[f64], v: &[f64]| {
                let scale = v.iter().fold(1.0f64, |m, x| m.max(x.abs()));
                u.iter().zip(v).all(|(a, b)| (a - b).abs() <= 1e-9 * scale)
            };
            prop_assert!(close(&p.0, &q.0) && close(&p.1, &q.1) && close(&p.2, &q.2));
            prop_assert!((parts.log_likelihood - whole.log_likelihood).abs() <= 1e-9 * whole.log_likelihood.abs().max(1.0));
        }
    }
}
