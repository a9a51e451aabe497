//! Penalised least squares — ridge, lasso and the elastic net — solved exactly from the Gram
//! matrix, with a regularisation path and k-fold cross-validation, as scikit-learn defines them.
//!
//! The objectives are scikit-learn's, with `λ` its `alpha`:
//!
//! ```text
//! ridge        ‖y − b − Xw‖² + λ‖w‖²                                   (Ridge)
//! elastic net  1/(2n) ‖y − b − Xw‖² + λ·r‖w‖₁ + λ(1 − r)/2 ‖w‖²          (ElasticNet, l1_ratio r)
//! lasso        the elastic net with r = 1                               (Lasso)
//! ```
//!
//! with an unpenalised intercept `b` when the formula has one. All of them depend on the data only
//! through the Gram matrix of the centred design and its products with the response, which the
//! one-pass [`DesignMoments`] give exactly. Ridge is one linear solve. The elastic net is solved by
//! cyclic coordinate descent on the Gram matrix (no pass over the rows, no stochastic steps) until
//! the active set settles, then *polished*: the coefficients of the active set solve the
//! stationarity equations `(C_AA + λ(1 − r)I) w_A = c_A − λr·sign(w_A)` exactly, and the
//! Karush–Kuhn–Tucker conditions are checked for every coefficient — so the result is the exact
//! minimiser, to rounding, not a point within a tolerance. With `standardize` the columns are
//! scaled to unit (population) variance for the fit and the coefficients reported on the original
//! scale, as glmnet (or scikit-learn's `StandardScaler` before the model) does.
//!
//! Cross-validation needs the moments of each fold. [`FoldedMoments`] keeps one [`DesignMoments`]
//! per fold, each row assigned to fold `hash(row) mod k` — a hash of the bits of the row's input
//! values (splitmix64), so the folds depend on the data only, never on partitioning, order or a
//! random seed, and the whole validation takes the same single pass. For each `λ` of the path
//! (scikit-learn's grid: 100 values from `λ_max`, where every coefficient is 0, down to `λ_max /
//! 1000`) the model is fitted on the other folds' moments and its squared error on each fold
//! follows from that fold's moments exactly. `lambda_min` minimises the mean error, `lambda_1se`
//! is the largest `λ` within one standard error of it, and the reported fit is on all rows at
//! `lambda_min` (scikit-learn's `LassoCV`/`ElasticNetCV` choice).

use super::design_moments::DesignMoments;
use super::formula::{Design, Formula};
use super::linalg::Factor;
use super::ols::{Coefficient, formula_cells, quadratic, second_matrix, to_u_basis, unit};
use crate::codec::{Reader, StateCodec, Writer};
use crate::error::{Result, StatsError};
use crate::hash::mix;
use crate::keyed::Keyed;
use crate::state::RowState;

/// The penalty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Penalty {
    /// `λ‖w‖²` on the sum of squares (scikit-learn's `Ridge`).
    Ridge,
    /// The elastic net with this `l1_ratio` (1 for the lasso).
    ElasticNet { l1_ratio: f64 },
}

/// What to fit.
#[derive(Debug, Clone, PartialEq)]
pub struct PenalizedSpec {
    pub penalty: Penalty,
    /// `None`: choose `λ` by cross-validation over the path.
    pub lambda: Option<f64>,
    pub standardize: bool,
    /// Values on the path.
    pub path_length: usize,
    /// `λ_min / λ_max` on the path.
    pub path_ratio: f64,
}

/// One point of the cross-validated path.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PathPoint {
    pub lambda: f64,
    /// The mean over folds of each fold's mean squared error.
    pub mean_squared_error: f64,
    /// Its standard error (the folds' standard deviation / √k).
    pub std_error: f64,
    /// Non-zero coefficients of the fit on all rows at this `λ`.
    pub nonzero: usize,
}

/// A fitted penalised model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PenalizedFit {
    /// Coefficient rows with the estimate only (penalised estimates have no classical errors).
    pub coefficients: Vec<Coefficient>,
    pub n: u64,
    pub lambda: f64,
    pub l1_ratio: f64,
    /// The minimised objective (scikit-learn's definition).
    pub objective: f64,
    pub r_squared: f64,
    pub nonzero: usize,
    pub folds: usize,
    pub path: Vec<PathPoint>,
    pub lambda_min: Option<f64>,
    pub lambda_1se: Option<f64>,
}

/// One [`DesignMoments`] per cross-validation fold. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedMoments {
    folds: Vec<DesignMoments>,
}

const TAG: u8 = 7;
const VERSION: u8 = 1;

/// The fold of a row: its values' bits hashed in column order (`-0.0` read as `0.0`), mod `k`.
pub fn fold_of(row: impl Iterator<Item = f64>, k: usize) -> usize {
    let mut h = 0x9e37_79b9_7f4a_7c15u64;
    for v in row {
        let v = if v == 0.0 { 0.0 } else { v };
        h = mix(h ^ v.to_bits());
    }
    (h % k as u64) as usize
}

impl FoldedMoments {
    /// The empty state over `values` value columns in `k` folds.
    pub fn new(values: usize, k: usize) -> Self {
        FoldedMoments { folds: vec![DesignMoments::new(values, false, false); k.max(1)] }
    }

    /// Folds in a batch: one slice per value column (the response first).
    pub fn update(&mut self, columns: &[&[f64]]) -> Result<()> {
        let k = self.folds.len();
        if k == 1 {
            return self.folds[0].update(columns);
        }
        let n = columns.first().map_or(0, |c| c.len());
        let codes: Vec<u32> = (0..n).map(|i| fold_of(columns.iter().map(|c| c[i]), k) as u32).collect();
        DesignMoments::update_coded(&mut self.folds, &codes, columns)
    }

    /// All rows' moments.
    pub fn total(&self) -> DesignMoments {
        let mut all = self.folds[0].clone();
        for f in &self.folds[1..] {
            all.merge(f);
        }
        all
    }
}

impl StateCodec for FoldedMoments {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        w.header(TAG, VERSION);
        w.u64(self.folds.len() as u64);
        for f in &self.folds {
            w.bytes(&f.to_bytes());
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, "folded moments", TAG, VERSION)?;
        let k = r.u64()? as usize;
        if k == 0 || k > 1000 {
            return Err(StatsError::CorruptState(format!("folded moments claim {k} folds")));
        }
        let folds = (0..k).map(|_| DesignMoments::decode(r.bytes()?)).collect::<Result<_>>()?;
        r.finish()?;
        Ok(FoldedMoments { folds })
    }
}

impl RowState for FoldedMoments {
    fn columns(&self) -> usize {
        self.folds[0].columns()
    }
    fn update(&mut self, columns: &[&[f64]]) -> Result<()> {
        FoldedMoments::update(self, columns)
    }
    fn push(&mut self, row: &[f64]) {
        let columns: Vec<&[f64]> = row.iter().map(std::slice::from_ref).collect();
        let _ = FoldedMoments::update(self, &columns);
    }
    fn merge(&mut self, other: &Self) {
        for (a, b) in self.folds.iter_mut().zip(&other.folds) {
            a.merge(b);
        }
    }
    fn rows(&self) -> u64 {
        self.folds.iter().map(|f| f.count()).sum()
    }
    fn heap_size(&self) -> usize {
        self.folds.iter().map(|f| f.heap_size()).sum()
    }
}

/// The least-squares problem of a set of cells, centred when there is an intercept: `n`, the
/// means `x̄`, `ȳ`, and `C = Σ (x − x̄)(x − x̄)ᵀ`, `c = Σ (x − x̄)(y − ȳ)`, `s = Σ (y − ȳ)²`
/// over the penalised columns.
struct Problem {
    n: f64,
    x_mean: Vec<f64>,
    y_mean: f64,
    gram: Vec<f64>,
    xy: Vec<f64>,
    yy: f64,
}

/// A cell's columns in its moments' `u` basis: the penalised design columns and the response.
struct CellBasis {
    columns: Vec<Vec<f64>>,
    response: Vec<f64>,
    moments: Vec<f64>,
}

fn basis(state: &DesignMoments, rows: &[Vec<f64>], penalised: &[usize]) -> CellBasis {
    let centre = state.centre();
    let d = state.values() + 1;
    CellBasis {
        columns: penalised.iter().map(|&t| to_u_basis(&rows[t], centre)).collect(),
        response: to_u_basis(&unit(d, 1), centre),
        moments: second_matrix(state),
    }
}

fn problem(cells: &[CellBasis], intercept: bool) -> Problem {
    let p = cells.first().map_or(0, |c| c.columns.len());
    let total = |v: &[f64], m: &[f64]| -> f64 { (0..v.len()).map(|a| v[a] * m[a * v.len()]).sum() };
    let n: f64 = cells.iter().map(|c| c.moments[0]).sum();
    let (mut x_mean, mut y_mean) = (vec![0.0; p], 0.0);
    if intercept && n > 0.0 {
        for c in cells {
            for (j, col) in c.columns.iter().enumerate() {
                x_mean[j] += total(col, &c.moments) / n;
            }
            y_mean += total(&c.response, &c.moments) / n;
        }
    }
    let (mut gram, mut xy, mut yy) = (vec![0.0; p * p], vec![0.0; p], 0.0);
    for c in cells {
        let centred: Vec<Vec<f64>> = c
            .columns
            .iter()
            .zip(&x_mean)
            .map(|(col, m)| {
                let mut v = col.clone();
                v[0] -= m;
                v
            })
            .collect();
        let mut r = c.response.clone();
        r[0] -= y_mean;
        for a in 0..p {
            for b in 0..=a {
                let v = quadratic(&centred[a], &c.moments, &centred[b]);
                gram[a * p + b] += v;
                if a != b {
                    gram[b * p + a] += v;
                }
            }
            xy[a] += quadratic(&centred[a], &c.moments, &r);
        }
        yy += quadratic(&r, &c.moments, &r);
    }
    Problem { n, x_mean, y_mean, gram, xy, yy }
}

/// Squared error `Σ (y − b − xᵀw)²` over the cells, exactly from their moments.
fn squared_error(cells: &[CellBasis], w: &[f64], b: f64) -> f64 {
    cells
        .iter()
        .map(|c| {
            let mut g = c.response.clone();
            g[0] -= b;
            for (col, wj) in c.columns.iter().zip(w) {
                for (x, y) in g.iter_mut().zip(col) {
                    *x -= wj * y;
                }
            }
            quadratic(&g, &c.moments, &g).max(0.0)
        })
        .sum()
}

fn soft(x: f64, t: f64) -> f64 {
    if x > t {
        x - t
    } else if x < -t {
        x + t
    } else {
        0.0
    }
}

/// The elastic net on a Gram problem scaled per observation: minimises
/// `½ wᵀGw − gᵀw + l1‖w‖₁ + ½ l2‖w‖²`, starting from `w` (a warm start along a path).
fn elastic_net(gram: &[f64], g: &[f64], l1: f64, l2: f64, w: &mut [f64]) -> Result<()> {
    let p = g.len();
    for _round in 0..200 {
        // Coordinate descent until the coefficients settle.
        for _sweep in 0..10_000 {
            let mut change = 0.0f64;
            for j in 0..p {
                let diag = gram[j * p + j];
                if diag <= 0.0 {
                    w[j] = 0.0;
                    continue;
                }
                let rest: f64 = (0..p).filter(|&k| k != j).map(|k| gram[j * p + k] * w[k]).sum();
                let new = soft(g[j] - rest, l1) / (diag + l2);
                change = change.max((new - w[j]).abs() * diag.sqrt());
                w[j] = new;
            }
            if change <= 1e-14 * (1.0 + g.iter().fold(0.0f64, |m, x| m.max(x.abs()))) {
                break;
            }
        }
        // Polish: solve the stationarity equations on the active set exactly and check the KKT
        // conditions everywhere.
        let active: Vec<usize> = (0..p).filter(|&j| w[j] != 0.0).collect();
        let a = active.len();
        if a > 0 {
            let mut sub = vec![0.0; a * a];
            for (r, &i) in active.iter().enumerate() {
                for (c, &j) in active.iter().enumerate() {
                    sub[r * a + c] = gram[i * p + j] + if i == j { l2 } else { 0.0 };
                }
            }
            let rhs: Vec<f64> = active.iter().map(|&i| g[i] - l1 * w[i].signum()).collect();
            let f = Factor::new(&sub, a);
            if f.rank() == a {
                let exact = f.solve(&rhs);
                if exact.iter().zip(&active).all(|(x, &i)| x.signum() == w[i].signum() && *x != 0.0) {
                    for (x, &i) in exact.iter().zip(&active) {
                        w[i] = *x;
                    }
                }
            }
        }
        let scale = g.iter().fold(l1, |m, x| m.max(x.abs()));
        let kkt = (0..p).all(|j| {
            let grad = g[j] - (0..p).map(|k| gram[j * p + k] * w[k]).sum::<f64>() - l2 * w[j];
            if w[j] != 0.0 {
                (grad - l1 * w[j].signum()).abs() <= 1e-10 * scale
            } else {
                grad.abs() <= l1 + 1e-10 * scale
            }
        });
        if kkt {
            return Ok(());
        }
    }
    Err(StatsError::InvalidOption {
        option: "lambda".into(),
        message: "coordinate descent did not converge (the design may be nearly collinear); try a larger lambda or l1_ratio < 1".into(),
    })
}

/// Fits the penalised columns of `problem` at `lambda`: the coefficients on the original scale.
fn solve(problem: &Problem, penalty: Penalty, lambda: f64, standardize: bool, warm: &mut Vec<f64>) -> Result<Vec<f64>> {
    let p = problem.xy.len();
    let scale: Vec<f64> = (0..p)
        .map(|j| {
            let s = (problem.gram[j * p + j] / problem.n).sqrt();
            if standardize && s > 0.0 { s } else { 1.0 }
        })
        .collect();
    let gram: Vec<f64> = (0..p * p).map(|i| problem.gram[i] / (scale[i / p] * scale[i % p])).collect();
    let xy: Vec<f64> = (0..p).map(|j| problem.xy[j] / scale[j]).collect();
    let w = match penalty {
        Penalty::Ridge => {
            let mut m = gram.clone();
            for j in 0..p {
                m[j * p + j] += lambda;
            }
            let f = Factor::new(&m, p);
            if f.rank() < p {
                return Err(StatsError::InvalidOption {
                    option: "lambda".into(),
                    message: "the penalised normal equations are singular; use a positive lambda".into(),
                });
            }
            f.solve(&xy)
        }
        Penalty::ElasticNet { l1_ratio } => {
            let n = problem.n;
            let g: Vec<f64> = gram.iter().map(|x| x / n).collect();
            let c: Vec<f64> = xy.iter().map(|x| x / n).collect();
            warm.resize(p, 0.0);
            elastic_net(&g, &c, lambda * l1_ratio, lambda * (1.0 - l1_ratio), warm)?;
            warm.clone()
        }
    };
    Ok(w.iter().zip(&scale).map(|(w, s)| w / s).collect())
}

/// scikit-learn's objective at `(w, b)` on the original scale.
fn objective(problem: &Problem, penalty: Penalty, lambda: f64, w: &[f64]) -> f64 {
    let p = w.len();
    // ‖y − b − Xw‖² at the optimal b is the centred s − 2cᵀw + wᵀCw.
    let sse = (problem.yy - 2.0 * w.iter().zip(&problem.xy).map(|(a, b)| a * b).sum::<f64>()
        + (0..p).map(|a| w[a] * (0..p).map(|b| problem.gram[a * p + b] * w[b]).sum::<f64>()).sum::<f64>())
    .max(0.0);
    let l1: f64 = w.iter().map(|x| x.abs()).sum();
    let l2: f64 = w.iter().map(|x| x * x).sum();
    match penalty {
        Penalty::Ridge => sse + lambda * l2,
        Penalty::ElasticNet { l1_ratio } => {
            sse / (2.0 * problem.n) + lambda * l1_ratio * l1 + 0.5 * lambda * (1.0 - l1_ratio) * l2
        }
    }
}

/// Fits `formula` from one [`FoldedMoments`] per combination of its categorical factors' levels.
pub fn fit_formula_penalized(
    formula: &Formula,
    design: &Design,
    cells: &Keyed<FoldedMoments>,
    spec: &PenalizedSpec,
) -> Result<PenalizedFit> {
    let layout = formula_cells(formula, design, cells, 0)?;
    let terms: Vec<String> = layout.columns.iter().map(|c| c.name.clone()).collect();
    // The intercept (if any) is the unpenalised b; every other column is penalised.
    let penalised: Vec<usize> = (0..terms.len()).filter(|&t| !(formula.intercept && t == 0)).collect();
    let k = cells.entries().first().map_or(1, |(_, s)| s.folds.len());
    let totals: Vec<DesignMoments> = cells.entries().iter().map(|(_, s)| s.total()).collect();
    let all: Vec<CellBasis> = totals.iter().zip(&layout.rows).map(|(m, rows)| basis(m, rows, &penalised)).collect();
    let whole = problem(&all, formula.intercept);
    let n = whole.n;
    if n < 2.0 {
        return Err(StatsError::TooFewRows { needed: 2, found: n as u64 });
    }
    if penalised.is_empty() {
        return Err(StatsError::InvalidOption {
            option: "formula".into(),
            message: "the model has no penalised terms".into(),
        });
    }
    let l1_ratio = match spec.penalty {
        Penalty::Ridge => 0.0,
        Penalty::ElasticNet { l1_ratio } => l1_ratio,
    };
    let mut path = Vec::new();
    let (mut lambda_min, mut lambda_1se) = (None, None);
    let lambda = match spec.lambda {
        Some(l) => l,
        None => {
            if k < 2 {
                return Err(StatsError::InvalidOption {
                    option: "folds".into(),
                    message: "choosing lambda by cross-validation needs at least 2 folds".into(),
                });
            }
            let grid = lambda_grid(&whole, spec)?;
            // Per fold: the training problem (other folds) and the test cells (this fold).
            let mut errors = vec![vec![0.0; k]; grid.len()];
            for f in 0..k {
                let train_moments: Vec<DesignMoments> = cells
                    .entries()
                    .iter()
                    .map(|(_, s)| {
                        let mut m = DesignMoments::new(s.folds[0].values(), false, false);
                        for (g, fm) in s.folds.iter().enumerate() {
                            if g != f {
                                m.merge(fm);
                            }
                        }
                        m
                    })
                    .collect();
                let train: Vec<CellBasis> =
                    train_moments.iter().zip(&layout.rows).map(|(m, rows)| basis(m, rows, &penalised)).collect();
                let test: Vec<CellBasis> = cells
                    .entries()
                    .iter()
                    .zip(&layout.rows)
                    .map(|((_, s), rows)| basis(&s.folds[f], rows, &penalised))
                    .collect();
                let n_test: f64 = test.iter().map(|c| c.moments[0]).sum();
                if n_test == 0.0 {
                    return Err(StatsError::TooFewRowsIn {
                        what: format!("cross-validation fold {}", f + 1),
                        needed: 1,
                        found: 0,
                    });
                }
                let train_problem = problem(&train, formula.intercept);
                let mut warm = Vec::new();
                for (i, &l) in grid.iter().enumerate() {
                    let w = solve(&train_problem, spec.penalty, l, spec.standardize, &mut warm)?;
                    let b = intercept_of(&train_problem, &w, formula.intercept);
                    errors[i][f] = squared_error(&test, &w, b) / n_test;
                }
            }
            let mut warm = Vec::new();
            for (i, &l) in grid.iter().enumerate() {
                let mean = errors[i].iter().sum::<f64>() / k as f64;
                let sd = (errors[i].iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (k as f64 - 1.0)).sqrt();
                let w = solve(&whole, spec.penalty, l, spec.standardize, &mut warm)?;
                path.push(PathPoint {
                    lambda: l,
                    mean_squared_error: mean,
                    std_error: sd / (k as f64).sqrt(),
                    nonzero: w.iter().filter(|x| **x != 0.0).count(),
                });
            }
            let best = path
                .iter()
                .min_by(|a, b| a.mean_squared_error.total_cmp(&b.mean_squared_error))
                .expect("a non-empty path");
            let limit = best.mean_squared_error + best.std_error;
            let one_se =
                path.iter().filter(|p| p.mean_squared_error <= limit).map(|p| p.lambda).fold(f64::MIN, f64::max);
            lambda_min = Some(best.lambda);
            lambda_1se = Some(one_se);
            best.lambda
        }
    };
    if !(lambda >= 0.0) || !lambda.is_finite() {
        return Err(StatsError::InvalidOption {
            option: "lambda".into(),
            message: format!("must be 0 or more, found {lambda}"),
        });
    }
    let w = solve(&whole, spec.penalty, lambda, spec.standardize, &mut Vec::new())?;
    let b = intercept_of(&whole, &w, formula.intercept);
    let mut coefficients: Vec<Coefficient> =
        terms.iter().map(|t| Coefficient { term: t.clone(), ..Default::default() }).collect();
    if formula.intercept {
        coefficients[0].estimate = Some(b);
    }
    for (&t, wj) in penalised.iter().zip(&w) {
        coefficients[t].estimate = Some(*wj);
    }
    let sse = squared_error(&all, &w, b);
    let tss = if formula.intercept {
        whole.yy
    } else {
        all.iter().map(|c| quadratic(&c.response, &c.moments, &c.response)).sum()
    };
    Ok(PenalizedFit {
        coefficients,
        n: n as u64,
        lambda,
        l1_ratio,
        objective: objective(&whole, spec.penalty, lambda, &w),
        r_squared: 1.0 - sse / tss,
        nonzero: w.iter().filter(|x| **x != 0.0).count(),
        folds: k,
        path,
        lambda_min,
        lambda_1se,
    })
}

fn intercept_of(problem: &Problem, w: &[f64], intercept: bool) -> f64 {
    if intercept { problem.y_mean - problem.x_mean.iter().zip(w).map(|(m, w)| m * w).sum::<f64>() } else { 0.0 }
}

/// scikit-learn's grid: `λ_max = max |cⱼ| / (n r)` (ridge: the same with r = 1… scaled to its
/// objective), then `path_length` values geometrically down to `λ_max · path_ratio`.
fn lambda_grid(problem: &Problem, spec: &PenalizedSpec) -> Result<Vec<f64>> {
    let p = problem.xy.len();
    let scale = |j: usize| {
        let s = (problem.gram[j * p + j] / problem.n).sqrt();
        if spec.standardize && s > 0.0 { s } else { 1.0 }
    };
    let top = (0..p).map(|j| (problem.xy[j] / scale(j)).abs()).fold(0.0f64, f64::max);
    let max = match spec.penalty {
        Penalty::ElasticNet { l1_ratio } if l1_ratio > 0.0 => top / (problem.n * l1_ratio),
        _ => {
            return Err(StatsError::InvalidOption {
                option: "lambda".into(),
                message:
                    "a lambda path needs an L1 penalty (as scikit-learn's); give lambda => … for ridge or l1_ratio 0"
                        .into(),
            });
        }
    };
    if !(max > 0.0) {
        return Err(StatsError::InvalidOption {
            option: "formula".into(),
            message: "no regressor is correlated with the response (every coefficient is 0 for any lambda)".into(),
        });
    }
    let m = spec.path_length.max(2);
    Ok((0..m).map(|i| max * spec.path_ratio.powf(i as f64 / (m - 1) as f64)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells_of(x: &[f64], y: &[f64], k: usize) -> (Formula, Design, Keyed<FoldedMoments>) {
        let formula = Formula::parse("y ~ x").unwrap();
        let design = formula.design();
        let mut cells = Keyed::new();
        cells.entry(&[], || FoldedMoments::new(2, k)).update(&[y, x]).unwrap();
        (formula, design, cells)
    }

    #[test]
    fn lasso_one_regressor_is_soft_thresholded_least_squares() {
        // One column: w = S(c, λ)/C per observation. x = 0..4, y = 2x + (0, 1, −1, 0, 0):
        // x̄ = 2, Σ(x − x̄)² = 10, Σ(x − x̄)(y − ȳ) = 20 − 1·… computed: y = 0, 3, 3, 6, 8.
        let x = [0.0, 1.0, 2.0, 3.0, 4.0];
        let y = [0.0, 3.0, 3.0, 6.0, 8.0];
        let (formula, design, cells) = cells_of(&x, &y, 1);
        // ȳ = 4; Σ(x − x̄)(y − ȳ) = (−2)(−4) + (−1)(−1) + 0 + 1·2 + 2·4 = 19; C = 10/5 = 2, c = 19/5.
        let spec = PenalizedSpec {
            penalty: Penalty::ElasticNet { l1_ratio: 1.0 },
            lambda: Some(0.5),
            standardize: false,
            path_length: 100,
            path_ratio: 1e-3,
        };
        let fit = fit_formula_penalized(&formula, &design, &cells, &spec).unwrap();
        let w = (19.0 / 5.0 - 0.5) / 2.0;
        assert!((fit.coefficients[1].estimate.unwrap() - w).abs() < 1e-14);
        assert!((fit.coefficients[0].estimate.unwrap() - (4.0 - 2.0 * w)).abs() < 1e-14);
        // Ridge: (10 + λ) w = 19.
        let ridge = PenalizedSpec { penalty: Penalty::Ridge, lambda: Some(2.0), ..spec.clone() };
        let fit = fit_formula_penalized(&formula, &design, &cells, &ridge).unwrap();
        assert!((fit.coefficients[1].estimate.unwrap() - 19.0 / 12.0).abs() < 1e-14);
        // A λ above λ_max = 3.8 zeroes the slope.
        let big = PenalizedSpec { lambda: Some(4.0), ..spec };
        let fit = fit_formula_penalized(&formula, &design, &cells, &big).unwrap();
        assert_eq!((fit.coefficients[1].estimate, fit.nonzero), (Some(0.0), 0));
    }

    #[test]
    fn folds_depend_on_values_only() {
        let a = fold_of([1.0, 2.0, -0.0].into_iter(), 5);
        assert_eq!(a, fold_of([1.0, 2.0, 0.0].into_iter(), 5));
        let counts = (0..10_000).fold([0usize; 5], |mut c, i| {
            c[fold_of([i as f64, (i * 7) as f64].into_iter(), 5)] += 1;
            c
        });
        assert!(counts.iter().all(|&c| (1800..2200).contains(&c)), "{counts:?}");
    }

    #[test]
    fn codec_round_trip() {
        let mut s = FoldedMoments::new(2, 3);
        s.update(&[&[1.0, 2.0, 4.0, 5.0], &[0.5, -1.0, 3.0, 2.0]]).unwrap();
        assert_eq!(FoldedMoments::decode(&s.to_bytes()).unwrap(), s);
        assert_eq!(s.rows(), 4);
    }
}
