//! Ordinary and weighted least squares from [`DesignMoments`], with classical,
//! heteroskedasticity-robust (HC0, HC1) and one- or two-way cluster-robust standard errors, as
//! statsmodels' `OLS`/`WLS`.
//!
//! The data may be split into *cells* (one per level of the categorical terms): within a cell
//! every design column and the response are linear in that cell's `u = (1, v − c)`, so a cell
//! is its moments plus the matrix that maps `(1, v)` to the design row. Summing each cell's
//! `H M H'` gives the normal equations; the residual of a row is `g·u` once the coefficients are
//! known, so the residual sum of squares is `Σ g' M g` and the HC "meat" `Σ w² e² x x'` comes
//! from the fourth moments — all from one pass over the data. For cluster-robust errors the cells
//! are split further, by cluster: a cell's score `Σ w x e = H M g` needs only its second moments,
//! and the meat is `Σ_c s_c s_cᵀ` over the clusters' summed scores.
//!
//! With an intercept the fit is done on design columns centred at their weighted means (the
//! normal equations then do not square the condition number caused by large means) and mapped
//! back. Terms that are linear combinations of earlier terms are dropped and reported, as R
//! does. Conventions follow statsmodels: `t` p-values and intervals with classical errors,
//! normal ones with robust errors (statsmodels' `use_t=False` default), the F statistic as a
//! Wald test on all slopes with robust errors, the log-likelihood of WLS with `½ Σ ln w`.

use statrs::distribution::{ContinuousCDF, FisherSnedecor};

use super::design_moments::{DesignMoments, FourthSides};
use super::formula::{Design, DesignColumn, Formula};
use super::leverage::LeverageMoments;
use super::linalg::{Factor, matmul, transpose};
use super::model::FactorLevels;
use crate::distributions::{StudentT, normal_isf, normal_sf};
use crate::error::{Result, StatsError};
use crate::keyed::{KeyValue, Keyed};

/// The covariance estimator of the coefficients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CovType {
    /// σ² (X'WX)⁻¹.
    #[default]
    Classical,
    /// White's sandwich, (X'WX)⁻¹ Σ w² e² x x' (X'WX)⁻¹.
    HC0,
    /// HC0 × n / (n − k).
    HC1,
    /// The sandwich with each row's squared residual over `1 − h` (its leverage); a second pass
    /// over the data (see [`super::leverage`]).
    HC2,
    /// As HC2 with `(1 − h)²`.
    HC3,
    /// Cluster-robust (CRV1): `G/(G − 1) · (n − 1)/(n − k)` × the sandwich with the meat
    /// `Σ_c s_c s_cᵀ` of per-cluster score sums; two-way as `V₁ + V₂ − V₁₂` (Cameron, Gelbach
    /// and Miller), each with its own correction. Clusters are given by [`LinearSpec::clusters`].
    Cluster,
}

impl CovType {
    /// Whether fourth moments are needed.
    pub fn needs_fourth(self) -> bool {
        matches!(self, CovType::HC0 | CovType::HC1)
    }

    /// Whether the errors need each row's leverage, from a second pass.
    pub fn needs_leverage(self) -> bool {
        matches!(self, CovType::HC2 | CovType::HC3)
    }

    /// The name used by statsmodels (`nonrobust`, `HC0`, …).
    pub fn name(self) -> &'static str {
        match self {
            CovType::Classical => "nonrobust",
            CovType::HC0 => "HC0",
            CovType::HC1 => "HC1",
            CovType::HC2 => "HC2",
            CovType::HC3 => "HC3",
            CovType::Cluster => "cluster",
        }
    }
}

/// One cell of the data: its moments and how its design rows and response derive from its
/// inputs `(1, v₁, …, v_m)`.
#[derive(Debug, Clone)]
pub struct Cell<'a> {
    pub moments: &'a DesignMoments,
    /// One row per model term, each of length `1 + m`.
    pub design: Vec<Vec<f64>>,
    /// The response, of length `1 + m`.
    pub response: Vec<f64>,
    /// For HC2/HC3: the cell's `Σ w² e² / (1 − h)ᵏ u uᵀ` (full, in the moments' `u` basis).
    pub leverage_meat: Option<Vec<f64>>,
}

/// What to fit: term names (the intercept, if any, first) and the inference options.
#[derive(Debug, Clone)]
pub struct LinearSpec {
    pub terms: Vec<String>,
    pub intercept: bool,
    pub cov: CovType,
    pub alpha: f64,
    /// For [`CovType::Cluster`]: one or two clusterings, each the cluster (numbered densely from
    /// 0) of every cell.
    pub clusters: Vec<Vec<u32>>,
}

/// One row of the coefficient table; `None` everywhere for a dropped (aliased) term.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Coefficient {
    pub term: String,
    pub estimate: Option<f64>,
    pub std_error: Option<f64>,
    pub t_value: Option<f64>,
    pub p_value: Option<f64>,
    pub ci_lower: Option<f64>,
    pub ci_upper: Option<f64>,
}

/// A fitted linear model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinearFit {
    pub coefficients: Vec<Coefficient>,
    pub n: u64,
    pub df_model: f64,
    pub df_resid: f64,
    pub r_squared: f64,
    pub adj_r_squared: f64,
    pub f_statistic: Option<f64>,
    pub f_p_value: Option<f64>,
    pub residual_std_error: f64,
    pub log_likelihood: f64,
    pub aic: f64,
    pub bic: f64,
    /// Terms dropped as linear combinations of earlier terms.
    pub dropped: Vec<String>,
    pub cov_type: &'static str,
    /// Covariance of the kept coefficients (row-major, in term order).
    pub covariance: Vec<f64>,
    /// The sorted levels of each categorical factor (empty from [`fit`], which sees no factors).
    pub levels: Vec<FactorLevels>,
}

/// A cell's design and response in its `u` basis, where `(1, v) = S u`, `S = [[1, 0], [c, I]]`.
pub(super) fn to_u_basis(row: &[f64], centre: &[f64]) -> Vec<f64> {
    let mut out = row.to_vec();
    out[0] += row[1..].iter().zip(centre).map(|(b, c)| b * c).sum::<f64>();
    out
}

/// The full symmetric matrix `Σ w u u'` of a cell.
pub(super) fn second_matrix(m: &DesignMoments) -> Vec<f64> {
    let d = m.values() + 1;
    let mut out = vec![0.0; d * d];
    for a in 0..d {
        for b in 0..d {
            out[a * d + b] = m.second(a, b);
        }
    }
    out
}

/// `x' M y` for a d × d matrix `M`.
pub(super) fn quadratic(x: &[f64], m: &[f64], y: &[f64]) -> f64 {
    let d = x.len();
    (0..d).map(|a| x[a] * (0..d).map(|b| m[a * d + b] * y[b]).sum::<f64>()).sum()
}

/// Fits the model. Errors when there are no more rows than kept terms, or when the inputs do not
/// fit together.
pub fn fit(cells: &[Cell<'_>], spec: &LinearSpec) -> Result<LinearFit> {
    let k = spec.terms.len();
    if k == 0 {
        return Err(StatsError::InvalidOption { option: "formula".into(), message: "the model has no terms".into() });
    }
    for c in cells {
        let d = c.moments.values() + 1;
        if c.design.len() != k || c.design.iter().any(|r| r.len() != d) || c.response.len() != d {
            return Err(StatsError::Shape(format!("a cell's design does not match {k} terms over {d} inputs")));
        }
        if spec.cov.needs_fourth() && !c.moments.has_fourth() {
            return Err(StatsError::Shape("robust errors need fourth moments".into()));
        }
        if spec.cov.needs_leverage() && c.leverage_meat.is_none() {
            return Err(StatsError::Shape("HC2/HC3 errors need the leverage pass".into()));
        }
    }
    // Clusters: one or two clusterings of the cells, each with at least two clusters.
    let cluster_groups = match spec.cov {
        CovType::Cluster => {
            if spec.clusters.is_empty()
                || spec.clusters.len() > 2
                || spec.clusters.iter().any(|c| c.len() != cells.len())
            {
                return Err(StatsError::Shape("cluster-robust errors need one or two clusterings of the cells".into()));
            }
            let groups: Vec<usize> =
                spec.clusters.iter().map(|c| c.iter().max().map_or(0, |&m| m as usize + 1)).collect();
            if let Some(&g) = groups.iter().find(|&&g| g < 2) {
                return Err(StatsError::InvalidOption {
                    option: "cluster".into(),
                    message: format!("cluster-robust errors need at least 2 clusters, but found {g}"),
                });
            }
            groups.into_iter().min()
        }
        _ => None,
    };
    let n: u64 = cells.iter().map(|c| c.moments.count()).sum();
    let sum_w: f64 = cells.iter().map(|c| c.moments.second(0, 0)).sum();

    // Each cell's design (θ basis: centred columns when there is an intercept) and response.
    struct Prepared {
        h: Vec<Vec<f64>>,
        y: Vec<f64>,
        m2: Vec<f64>,
    }
    let mut cells_u: Vec<(Vec<Vec<f64>>, Vec<f64>, Vec<f64>)> = cells
        .iter()
        .map(|c| {
            let centre = c.moments.centre();
            let design = c.design.iter().map(|r| to_u_basis(r, centre)).collect();
            (design, to_u_basis(&c.response, centre), second_matrix(c.moments))
        })
        .collect();
    // Weighted means of the design columns and the response (Σ w x = row · M[:, 0]).
    let column_total = |row: &[f64], m2: &[f64]| -> f64 {
        let d = row.len();
        (0..d).map(|a| row[a] * m2[a * d]).sum::<f64>()
    };
    let mut means = vec![0.0; k];
    let mut mean_y = 0.0;
    if sum_w > 0.0 {
        for (design, y, m2) in &cells_u {
            for t in 0..k {
                means[t] += column_total(&design[t], m2) / sum_w;
            }
            mean_y += column_total(y, m2) / sum_w;
        }
    }
    let column_means = means.clone();
    if spec.intercept {
        means[0] = 0.0;
        for (design, _, _) in &mut cells_u {
            for t in 1..k {
                design[t][0] -= means[t];
            }
        }
    }
    if !spec.intercept {
        means.iter_mut().for_each(|m| *m = 0.0);
    }
    let prepared: Vec<Prepared> = cells_u.into_iter().map(|(h, y, m2)| Prepared { h, y, m2 }).collect();

    // Normal equations.
    let mut gram = vec![0.0; k * k];
    let mut gy = vec![0.0; k];
    for p in &prepared {
        for s in 0..k {
            for t in 0..=s {
                let v = quadratic(&p.h[s], &p.m2, &p.h[t]);
                gram[s * k + t] += v;
                if s != t {
                    gram[t * k + s] += v;
                }
            }
            gy[s] += quadratic(&p.h[s], &p.m2, &p.y);
        }
    }
    let factor = Factor::new(&gram, k);
    let kept = factor.kept.clone();
    let rank = kept.len();
    let theta = factor.solve(&kept.iter().map(|&t| gy[t]).collect::<Vec<_>>());
    let df_resid = n as f64 - rank as f64;
    if df_resid < 1.0 {
        return Err(StatsError::TooFewRows { needed: rank as u64 + 1, found: n });
    }

    // Residual directions and sums of squares.
    let residual: Vec<Vec<f64>> = prepared
        .iter()
        .map(|p| {
            let mut g = p.y.clone();
            for (q, &t) in kept.iter().enumerate() {
                for (ga, ha) in g.iter_mut().zip(&p.h[t]) {
                    *ga -= theta[q] * ha;
                }
            }
            g
        })
        .collect();
    let ssr = prepared.iter().zip(&residual).map(|(p, g)| quadratic(g, &p.m2, g)).sum::<f64>().max(0.0);
    // The model has a constant when it has a kept intercept term, or — as statsmodels checks —
    // when the constant lies in the span of the columns (all levels of a categorical without an
    // intercept): then 1 is fitted exactly by the columns, Σw − t'G⁻¹t = 0 with t = X'W1.
    let explicit_const = spec.intercept && kept.first() == Some(&0);
    let implicit_const = !explicit_const && sum_w > 0.0 && {
        let totals: Vec<f64> = kept.iter().map(|&t| column_means[t] * sum_w).collect();
        let fitted: f64 = factor.solve(&totals).iter().zip(&totals).map(|(a, b)| a * b).sum();
        (sum_w - fitted).abs() <= 1e-9 * sum_w
    };
    let k_const = usize::from(explicit_const || implicit_const);
    let tss: f64 = prepared
        .iter()
        .map(|p| {
            let mut y = p.y.clone();
            if k_const == 1 {
                y[0] -= mean_y;
            }
            quadratic(&y, &p.m2, &y)
        })
        .sum();

    // Covariance in the θ basis, then mapped to the reported coefficients.
    let inverse = factor.inverse();
    let cov_theta = match spec.cov {
        CovType::Classical => inverse.iter().map(|v| v * ssr / df_resid).collect::<Vec<_>>(),
        CovType::HC0 | CovType::HC1 | CovType::HC2 | CovType::HC3 => {
            let mut meat = vec![0.0; rank * rank];
            for ((p, g), c) in prepared.iter().zip(&residual).zip(cells) {
                let d = g.len();
                let h: Vec<f64> = kept.iter().flat_map(|&s| p.h[s].iter().copied()).collect();
                let t = match &c.leverage_meat {
                    Some(m) => m.clone(),
                    None => contract_fourth(c.moments, g, &h),
                };
                let ht = matmul(&h, &t, rank, d, d);
                let add = matmul(&ht, &transpose(&h, rank, d), rank, d, rank);
                meat.iter_mut().zip(&add).for_each(|(m, a)| *m += a);
            }
            let mut cov = matmul(&matmul(&inverse, &meat, rank, rank, rank), &inverse, rank, rank, rank);
            if spec.cov == CovType::HC1 {
                cov.iter_mut().for_each(|v| *v *= n as f64 / df_resid);
            }
            cov
        }
        CovType::Cluster => {
            // Each cell's score H M g, summed per cluster.
            let scores: Vec<Vec<f64>> = prepared
                .iter()
                .zip(&residual)
                .map(|(p, g)| {
                    let d = g.len();
                    let mg: Vec<f64> = (0..d).map(|a| (0..d).map(|b| p.m2[a * d + b] * g[b]).sum()).collect();
                    kept.iter().map(|&t| p.h[t].iter().zip(&mg).map(|(h, m)| h * m).sum()).collect()
                })
                .collect();
            let mut cov = vec![0.0; rank * rank];
            for (ids, sign) in clusterings(&spec.clusters) {
                let groups = ids.iter().max().map_or(0, |&m| m as usize + 1);
                let mut sums = vec![0.0; groups * rank];
                for (s, &id) in scores.iter().zip(&ids) {
                    let at = id as usize * rank;
                    sums[at..at + rank].iter_mut().zip(s).for_each(|(a, b)| *a += b);
                }
                let mut meat = vec![0.0; rank * rank];
                for s in sums.chunks_exact(rank) {
                    for a in 0..rank {
                        for b in 0..rank {
                            meat[a * rank + b] += s[a] * s[b];
                        }
                    }
                }
                let g = groups as f64;
                let correction = sign * g / (g - 1.0) * (n as f64 - 1.0) / df_resid;
                let v = matmul(&matmul(&inverse, &meat, rank, rank, rank), &inverse, rank, rank, rank);
                cov.iter_mut().zip(&v).for_each(|(c, v)| *c += correction * v);
            }
            cov
        }
    };
    let mut map = vec![0.0; rank * rank];
    for q in 0..rank {
        map[q * rank + q] = 1.0;
    }
    if explicit_const {
        for (q, &t) in kept.iter().enumerate().skip(1) {
            map[q] = -means[t];
        }
    }
    let estimates = matmul(&map, &theta, rank, rank, 1);
    let covariance =
        matmul(&matmul(&map, &cov_theta, rank, rank, rank), &transpose(&map, rank, rank), rank, rank, rank);

    // Inference.
    let robust = spec.cov != CovType::Classical;
    let student = StudentT::new(df_resid)?;
    let (tail, quantile): (Box<dyn Fn(f64) -> f64>, f64) = if robust {
        (Box::new(|z: f64| 2.0 * normal_sf(z.abs())), normal_isf(spec.alpha / 2.0))
    } else {
        (Box::new(move |t: f64| 2.0 * student.sf(t.abs())), student.isf(spec.alpha / 2.0))
    };
    let mut coefficients: Vec<Coefficient> =
        spec.terms.iter().map(|t| Coefficient { term: t.clone(), ..Default::default() }).collect();
    for (q, &t) in kept.iter().enumerate() {
        let est = estimates[q];
        let se = covariance[q * rank + q].max(0.0).sqrt();
        let c = &mut coefficients[t];
        c.estimate = Some(est);
        c.std_error = Some(se);
        c.t_value = Some(est / se);
        c.p_value = Some(tail(est / se));
        c.ci_lower = Some(est - quantile * se);
        c.ci_upper = Some(est + quantile * se);
    }

    let df_model = (rank - k_const) as f64;
    let r_squared = 1.0 - ssr / tss;
    let adj_r_squared = 1.0 - (n as f64 - k_const as f64) / df_resid * (1.0 - r_squared);
    let f_statistic = if df_model == 0.0 || (robust && implicit_const) {
        // statsmodels gives NaN for a robust F when the constant is implicit (its issue #2444).
        None
    } else if robust {
        // Wald test of all slopes with the robust covariance.
        let slopes: Vec<usize> = (k_const..rank).collect();
        let s = slopes.len();
        let sub: Vec<f64> = slopes
            .iter()
            .flat_map(|&i| slopes.iter().map(move |&j| (i, j)))
            .map(|(i, j)| covariance[i * rank + j])
            .collect();
        let f = Factor::new(&sub, s);
        let b: Vec<f64> = slopes.iter().map(|&i| estimates[i]).collect();
        (f.rank() == s).then(|| f.solve(&b).iter().zip(&b).map(|(x, y)| x * y).sum::<f64>() / df_model)
    } else {
        Some(((tss - ssr) / df_model) / (ssr / df_resid))
    };
    let f_p_value = match f_statistic {
        Some(f) => Some(
            // With clusters statsmodels tests against F(q, G − 1), G the fewest clusters.
            FisherSnedecor::new(df_model, cluster_groups.map_or(df_resid, |g| g as f64 - 1.0))
                .map_err(|e| StatsError::Shape(format!("F distribution: {e}")))?
                .sf(f),
        ),
        None => None,
    };
    let nf = n as f64;
    let log_likelihood = -nf / 2.0 * ((2.0 * std::f64::consts::PI).ln() + (ssr / nf).ln() + 1.0)
        + cells.iter().map(|c| c.moments.log_weight()).sum::<f64>() / 2.0;
    Ok(LinearFit {
        coefficients,
        n,
        df_model,
        df_resid,
        r_squared,
        adj_r_squared,
        f_statistic,
        f_p_value,
        residual_std_error: (ssr / df_resid).sqrt(),
        log_likelihood,
        aic: -2.0 * log_likelihood + 2.0 * rank as f64,
        bic: -2.0 * log_likelihood + nf.ln() * rank as f64,
        dropped: factor.dropped.iter().map(|&t| spec.terms[t].clone()).collect(),
        cov_type: spec.cov.name(),
        covariance,
        levels: Vec::new(),
    })
}

/// The value columns a formula's moment state is built over: the response, then each of
/// [`Design::values`] (the weight, if any, follows them as the state's last input).
pub fn value_count(design: &Design) -> usize {
    1 + design.values.len()
}

/// A formula's design over keyed cells: the columns, each cell's design rows over `(1, v)`, and
/// the dense cluster number of each cell per clustering.
pub(super) struct FormulaCells {
    pub columns: Vec<DesignColumn>,
    /// The sorted levels of each categorical factor.
    pub levels: Vec<Vec<KeyValue>>,
    pub rows: Vec<Vec<Vec<f64>>>,
    pub clusters: Vec<Vec<u32>>,
}

/// `e_i` over `(1, v)` of a formula's state (`d` = values + 1).
pub(super) fn unit(d: usize, i: usize) -> Vec<f64> {
    let mut e = vec![0.0; d];
    e[i] = 1.0;
    e
}

/// The design of `formula` over cells keyed by its categorical levels and then `clusterings`
/// cluster values.
pub(super) fn formula_cells<S>(
    formula: &Formula,
    design: &Design,
    cells: &Keyed<S>,
    clusterings: usize,
) -> Result<FormulaCells> {
    let nkeys = design.keys.len();
    let mut levels: Vec<Vec<KeyValue>> = vec![Vec::new(); nkeys + clusterings];
    for (key, _) in cells.entries() {
        if key.len() != nkeys + clusterings {
            return Err(StatsError::Shape(format!(
                "a cell keyed by {} values for {nkeys} factors and {clusterings} clusterings",
                key.len()
            )));
        }
        for (l, v) in levels.iter_mut().zip(key) {
            l.push(v.clone());
        }
    }
    for l in &mut levels {
        l.sort();
        l.dedup();
    }
    let columns = design.columns(formula, &levels[..nkeys]);
    let d = value_count(design) + 1;
    let rows = cells
        .entries()
        .iter()
        .map(|(key, _)| {
            let at: Vec<usize> = key[..nkeys]
                .iter()
                .zip(&levels)
                .map(|(v, l)| l.binary_search(v).expect("levels hold every key"))
                .collect();
            columns
                .iter()
                .map(|c| {
                    if c.levels.iter().all(|&(k, level)| at[k] == level) {
                        unit(d, c.value.map_or(0, |v| v + 2))
                    } else {
                        vec![0.0; d]
                    }
                })
                .collect()
        })
        .collect();
    // Clusters numbered densely in sorted order.
    let clusters = (nkeys..nkeys + clusterings)
        .map(|j| {
            cells
                .entries()
                .iter()
                .map(|(key, _)| levels[j].binary_search(&key[j]).expect("levels hold every key") as u32)
                .collect()
        })
        .collect();
    levels.truncate(nkeys);
    Ok(FormulaCells { columns, levels, rows, clusters })
}

/// Fits `formula` from one [`DesignMoments`] per combination of its categorical factors' levels
/// (keyed in [`Design::keys`] order, over [`value_count`] values), followed in the key by
/// `clusterings` cluster values (one or two with [`CovType::Cluster`], else none). Levels are
/// sorted; the first is the reference of reduced codings.
pub fn fit_formula(
    formula: &Formula,
    design: &Design,
    cells: &Keyed<DesignMoments>,
    cov: CovType,
    alpha: f64,
    clusterings: usize,
) -> Result<LinearFit> {
    fit_cells(formula, design, cells, |m| (m, None), cov, alpha, clusterings)
}

/// Fits `formula` with HC2 or HC3 errors from the leverage pass (see [`super::leverage`]), one
/// [`LeverageMoments`] per combination of the categorical factors' levels.
pub fn fit_formula_leverage(
    formula: &Formula,
    design: &Design,
    cells: &Keyed<LeverageMoments>,
    cov: CovType,
    alpha: f64,
) -> Result<LinearFit> {
    let meats = cells.entries().iter().map(|(_, m)| m.meat_matrix()).collect::<Result<Vec<_>>>()?;
    let mut next = meats.into_iter();
    fit_cells(formula, design, cells, |m| (m.moments(), next.next()), cov, alpha, 0)
}

fn fit_cells<'a, S>(
    formula: &Formula,
    design: &Design,
    cells: &'a Keyed<S>,
    mut parts: impl FnMut(&'a S) -> (&'a DesignMoments, Option<Vec<f64>>),
    cov: CovType,
    alpha: f64,
    clusterings: usize,
) -> Result<LinearFit> {
    let FormulaCells { columns, levels, rows, clusters } = formula_cells(formula, design, cells, clusterings)?;
    let d = value_count(design) + 1;
    let model_cells: Vec<Cell<'_>> = cells
        .entries()
        .iter()
        .zip(rows)
        .map(|((_, state), design)| {
            let (moments, leverage_meat) = parts(state);
            Cell { moments, design, response: unit(d, 1), leverage_meat }
        })
        .collect();
    let spec = LinearSpec {
        terms: columns.into_iter().map(|c| c.name).collect(),
        intercept: formula.intercept,
        cov,
        alpha,
        clusters,
    };
    if model_cells.is_empty() {
        return Err(StatsError::TooFewRows { needed: spec.terms.len() as u64 + 1, found: 0 });
    }
    Ok(LinearFit { levels: factor_levels(formula, design, &levels), ..fit(&model_cells, &spec)? })
}

/// The levels of each categorical factor as a model document records them.
pub(super) fn factor_levels(formula: &Formula, design: &Design, levels: &[Vec<KeyValue>]) -> Vec<FactorLevels> {
    design
        .keys
        .iter()
        .zip(levels)
        .map(|(&f, l)| FactorLevels {
            factor: formula.factors[f].code.clone(),
            levels: l.iter().map(|v| v.to_string()).collect(),
        })
        .collect()
}

/// The clusterings whose sandwiches are summed, with their signs: one clustering as given; for
/// two, both and minus their intersection.
pub(super) fn clusterings(clusters: &[Vec<u32>]) -> Vec<(Vec<u32>, f64)> {
    let mut out: Vec<(Vec<u32>, f64)> = clusters.iter().map(|c| (c.clone(), 1.0)).collect();
    if let [a, b] = clusters {
        let mut ids = std::collections::HashMap::new();
        let both = a
            .iter()
            .zip(b)
            .map(|pair| {
                let next = ids.len() as u32;
                *ids.entry(pair).or_insert(next)
            })
            .collect();
        out.push((both, -1.0));
    }
    out
}

/// `T[a, b] = Σ_cd g_c g_d Σ w² u_a u_b u_c u_d`: the meat of one cell before the design map
/// `h` (rows over `u`, flattened), which reads `T` only where its columns are not all zero; `T`
/// is 0 elsewhere, and terms with `g_c = 0` are skipped. So only the quads of the sides
/// [`fourth_sides`] names are read: a quad the state does not keep reads as NaN, and would show.
pub(super) fn contract_fourth(m: &DesignMoments, g: &[f64], h: &[f64]) -> Vec<f64> {
    let d = g.len();
    let used: Vec<bool> = (0..d).map(|a| h.iter().skip(a).step_by(d).any(|&x| x != 0.0)).collect();
    let residual: Vec<usize> = (0..d).filter(|&c| g[c] != 0.0).collect();
    let mut t = vec![0.0; d * d];
    for a in (0..d).filter(|&a| used[a]) {
        for b in (0..=a).filter(|&b| used[b]) {
            let mut s = 0.0;
            for &c in &residual {
                for &e in &residual {
                    s += g[c] * g[e] * m.fourth(a, b, c, e);
                }
            }
            t[a * d + b] = s;
            t[b * d + a] = s;
        }
    }
    t
}

/// The fourth moments a robust fit of `design` reads (see [`contract_fourth`]), over
/// `u = (1, y, v…)`: a pair of the columns `x` is made of and a pair of those the residual `e` is
/// made of. For OLS, `x` is over the terms' values and `e` over those and `y`. For 2SLS the meat
/// is `Σ e² x̂ x̂ᵀ`: `x̂` is over the instruments (the exogenous terms' values and the excluded
/// instruments), `e` over `y`, the exogenous terms' values and the endogenous ones.
pub fn fourth_sides(design: &Design) -> FourthSides {
    let d = value_count(design) + 1;
    let exogenous: Vec<usize> = design.terms.iter().filter_map(|t| t.value.map(|v| v + 2)).collect();
    let shifted = |values: &[usize]| values.iter().map(|v| v + 2).collect::<Vec<_>>();
    if design.endogenous.is_empty() {
        return FourthSides::new(d, exogenous.iter().copied(), exogenous.iter().copied().chain([1]));
    }
    FourthSides::new(
        d,
        exogenous.iter().copied().chain(shifted(&design.instruments)),
        exogenous.iter().copied().chain(shifted(&design.endogenous)).chain([1]),
    )
}
