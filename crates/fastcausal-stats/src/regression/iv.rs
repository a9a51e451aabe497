//! Two-stage least squares (instrumental variables) from [`DesignMoments`], as linearmodels'
//! `IV2SLS(...).fit(cov_type=…)` with its defaults (`debiased=False`).
//!
//! The model is `y = X β + e` with `X = (exogenous, endogenous)` and instruments
//! `Z = (exogenous, excluded instruments)`. As for [`super::ols`], every column of `X`, `Z` and
//! `y` is linear in a cell's `u = (1, v − c)`, so all cross-products are quadratic forms in the
//! cells' second moments: with `Π = (Z'Z)⁻¹ Z'X` (the first stage) and `X̂ = Z Π`,
//! `β = (X̂'X̂)⁻¹ X̂'y`. The residual `e = y − X β` and each `x̂` are again linear in `u`, so
//!
//! ```text
//! unadjusted   σ² (X̂'X̂)⁻¹,  σ² = e'e / n
//! robust       (X̂'X̂)⁻¹ Σ e² x̂ x̂' (X̂'X̂)⁻¹                     (fourth moments)
//! clustered    (X̂'X̂)⁻¹ Σ_g ξ_g ξ_g' (X̂'X̂)⁻¹,  ξ_g = Σ_{i∈g} e_i x̂_i   (per-cluster second moments)
//! ```
//!
//! With `debiased=False` linearmodels applies no small-sample factor to any of them (not even
//! G/(G − 1) for clusters); two-way clustering sums the meats of both clusterings minus that of
//! their intersection.
//!
//! Inference uses the normal distribution; the model test is linearmodels' Wald χ² of all
//! non-constant coefficients. For each endogenous regressor the first stage reports the partial
//! R² and the F statistic of the excluded instruments (homoskedastic, as linearmodels computes it:
//! the Wald statistic with σ² = SSR/n, divided by q, read against F(q, n − m)), and the fit flags
//! weak instruments when an F is below 10 (Staiger and Stock's rule of thumb).

use statrs::distribution::{ChiSquared, ContinuousCDF, FisherSnedecor};

use super::design_moments::DesignMoments;
use super::formula::{Design, Formula};
use super::linalg::{Factor, matmul, transpose};
use super::ols::{
    Coefficient, FormulaCells, clusterings, contract_fourth, formula_cells, quadratic, second_matrix, to_u_basis, unit,
    value_count,
};
use crate::distributions::{normal_isf, normal_sf};
use crate::error::{Result, StatsError};
use crate::keyed::Keyed;

/// The covariance estimator of 2SLS coefficients (linearmodels' names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IvCov {
    #[default]
    Unadjusted,
    Robust,
    Clustered,
}

impl IvCov {
    pub fn needs_fourth(self) -> bool {
        self == IvCov::Robust
    }
    pub fn name(self) -> &'static str {
        match self {
            IvCov::Unadjusted => "unadjusted",
            IvCov::Robust => "robust",
            IvCov::Clustered => "clustered",
        }
    }
}

/// One cell: its moments and its rows of X (exogenous then endogenous), of the excluded
/// instruments, and of y, each over `(1, v)`.
#[derive(Debug, Clone)]
pub struct IvCell<'a> {
    pub moments: &'a DesignMoments,
    pub exogenous: Vec<Vec<f64>>,
    pub endogenous: Vec<Vec<f64>>,
    pub instruments: Vec<Vec<f64>>,
    pub response: Vec<f64>,
}

/// Names and options of a 2SLS fit.
#[derive(Debug, Clone, Default)]
pub struct IvSpec {
    /// Exogenous regressors (the intercept first, if any).
    pub exogenous: Vec<String>,
    pub endogenous: Vec<String>,
    pub instruments: Vec<String>,
    pub intercept: bool,
    pub cov: IvCov,
    pub alpha: f64,
    /// For [`IvCov::Clustered`]: one or two clusterings, the cluster (dense from 0) of every cell.
    pub clusters: Vec<Vec<u32>>,
}

/// The first stage of one endogenous regressor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FirstStage {
    pub endogenous: String,
    pub partial_r_squared: f64,
    pub f_statistic: f64,
    pub f_p_value: f64,
    pub df_num: f64,
    pub df_denom: f64,
}

/// A 2SLS fit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IvFit {
    pub coefficients: Vec<Coefficient>,
    pub n: u64,
    pub df_model: f64,
    pub df_resid: f64,
    pub r_squared: f64,
    /// Wald χ² of the non-constant coefficients, with its degrees of freedom and p-value.
    pub wald_statistic: Option<f64>,
    pub wald_df: f64,
    pub wald_p_value: Option<f64>,
    pub first_stage: Vec<FirstStage>,
    /// Some first-stage F below 10.
    pub weak_instruments: bool,
    pub cov_type: &'static str,
    pub covariance: Vec<f64>,
}

/// `Σ_cells A_cell M B_cellᵀ` for row sets A (p rows) and B (q rows): a p × q matrix.
fn cross(rows_a: &[Vec<Vec<f64>>], rows_b: &[Vec<Vec<f64>>], m2: &[Vec<f64>]) -> Vec<f64> {
    let (p, q) = (rows_a[0].len(), rows_b[0].len());
    let mut out = vec![0.0; p * q];
    for ((a, b), m) in rows_a.iter().zip(rows_b).zip(m2) {
        for i in 0..p {
            for j in 0..q {
                out[i * q + j] += quadratic(&a[i], m, &b[j]);
            }
        }
    }
    out
}

/// Fits the model. Errors on collinear instruments or regressors, on fewer instruments than
/// endogenous regressors, and on too few rows.
pub fn fit_iv(cells: &[IvCell<'_>], spec: &IvSpec) -> Result<IvFit> {
    let (kx, ke, kz) = (spec.exogenous.len(), spec.endogenous.len(), spec.instruments.len());
    if ke == 0 {
        return Err(StatsError::InvalidOption {
            option: "formula".into(),
            message: "an IV model needs an endogenous regressor, e.g. y ~ x1 + [d ~ z1 + z2]".into(),
        });
    }
    if kz < ke {
        return Err(StatsError::InvalidOption {
            option: "formula".into(),
            message: format!(
                "{ke} endogenous regressor(s) ({}) need at least as many instruments, but {kz} given ({})",
                spec.endogenous.join(", "),
                spec.instruments.join(", ")
            ),
        });
    }
    if cells.is_empty() {
        return Err(StatsError::TooFewRows { needed: (kx + ke + 1) as u64, found: 0 });
    }
    let k = kx + ke;
    let m = kx + kz;
    let n: u64 = cells.iter().map(|c| c.moments.count()).sum();
    let nf = n as f64;
    if nf <= m as f64 {
        return Err(StatsError::TooFewRows { needed: m as u64 + 1, found: n });
    }
    // Rows in each cell's u basis.
    let mut xs = Vec::new();
    let mut zs = Vec::new();
    let mut ys = Vec::new();
    let mut m2 = Vec::new();
    for c in cells {
        let centre = c.moments.centre();
        let u = |r: &Vec<f64>| to_u_basis(r, centre);
        let exog: Vec<Vec<f64>> = c.exogenous.iter().map(u).collect();
        xs.push(exog.iter().cloned().chain(c.endogenous.iter().map(u)).collect::<Vec<_>>());
        zs.push(exog.into_iter().chain(c.instruments.iter().map(u)).collect::<Vec<_>>());
        ys.push(vec![u(&c.response)]);
        m2.push(second_matrix(c.moments));
    }
    let szz = cross(&zs, &zs, &m2);
    let szx = cross(&zs, &xs, &m2);
    let szy = cross(&zs, &ys, &m2);
    let zf = Factor::new(&szz, m);
    if zf.rank() < m {
        let names: Vec<&str> = spec.exogenous.iter().chain(&spec.instruments).map(String::as_str).collect();
        let dropped: Vec<&str> = zf.dropped.iter().map(|&i| names[i]).collect();
        return Err(StatsError::InvalidOption {
            option: "formula".into(),
            message: format!("the instruments are collinear: {} repeat(s) earlier ones", dropped.join(", ")),
        });
    }
    // Π = (Z'Z)⁻¹ Z'X, one column per regressor.
    let szx_t = transpose(&szx, m, k);
    let pi_t: Vec<f64> = (0..k).flat_map(|j| zf.solve(&szx_t[j * m..(j + 1) * m])).collect(); // k × m
    let a = matmul(&pi_t, &szx, k, m, k); // X̂'X̂ = Π' Z'X
    let b = matmul(&pi_t, &szy, k, m, 1);
    let xf = Factor::new(&a, k);
    if xf.rank() < k {
        let names: Vec<&str> = spec.exogenous.iter().chain(&spec.endogenous).map(String::as_str).collect();
        let dropped: Vec<&str> = xf.dropped.iter().map(|&i| names[i]).collect();
        return Err(StatsError::InvalidOption {
            option: "formula".into(),
            message: format!("the regressors are collinear given the instruments: {}", dropped.join(", ")),
        });
    }
    let beta = xf.solve(&b);
    let inverse = xf.inverse();
    // Residual directions, fitted regressors x̂ = Π' z, per cell.
    let d = cells[0].moments.values() + 1;
    let residual: Vec<Vec<f64>> = xs
        .iter()
        .zip(&ys)
        .map(|(x, y)| {
            let mut g = y[0].clone();
            for (bj, xj) in beta.iter().zip(x) {
                g.iter_mut().zip(xj).for_each(|(ga, xa)| *ga -= bj * xa);
            }
            g
        })
        .collect();
    let xhat: Vec<Vec<f64>> = zs
        .iter()
        .map(|z| {
            let zrows: Vec<f64> = z.iter().flatten().copied().collect();
            matmul(&pi_t, &zrows, k, m, d)
        })
        .collect();
    let ssr: f64 = residual.iter().zip(&m2).map(|(g, m)| quadratic(g, m, g)).sum::<f64>().max(0.0);
    let cov = match spec.cov {
        IvCov::Unadjusted => inverse.iter().map(|v| v * ssr / nf).collect::<Vec<_>>(),
        IvCov::Robust => {
            let mut meat = vec![0.0; k * k];
            for ((h, g), c) in xhat.iter().zip(&residual).zip(cells) {
                let t = contract_fourth(c.moments, g, h);
                let add = matmul(&matmul(h, &t, k, d, d), &transpose(h, k, d), k, d, k);
                meat.iter_mut().zip(&add).for_each(|(x, a)| *x += a);
            }
            matmul(&matmul(&inverse, &meat, k, k, k), &inverse, k, k, k)
        }
        IvCov::Clustered => {
            if spec.clusters.is_empty()
                || spec.clusters.len() > 2
                || spec.clusters.iter().any(|c| c.len() != cells.len())
            {
                return Err(StatsError::Shape("clustered 2SLS errors need one or two clusterings of the cells".into()));
            }
            // Each cell's score x̂ M g.
            let scores: Vec<Vec<f64>> = xhat
                .iter()
                .zip(&residual)
                .zip(&m2)
                .map(|((h, g), m)| {
                    let mg: Vec<f64> = (0..d).map(|a| (0..d).map(|b| m[a * d + b] * g[b]).sum()).collect();
                    matmul(h, &mg, k, d, 1)
                })
                .collect();
            let mut meat = vec![0.0; k * k];
            for (ids, sign) in clusterings(&spec.clusters) {
                let groups = ids.iter().max().map_or(0, |&g| g as usize + 1);
                if groups < 2 {
                    return Err(StatsError::InvalidOption {
                        option: "cluster".into(),
                        message: format!("cluster-robust errors need at least 2 clusters, but found {groups}"),
                    });
                }
                let mut sums = vec![0.0; groups * k];
                for (s, &id) in scores.iter().zip(&ids) {
                    let at = id as usize * k;
                    sums[at..at + k].iter_mut().zip(s).for_each(|(x, v)| *x += v);
                }
                for s in sums.chunks_exact(k) {
                    for i in 0..k {
                        for j in 0..k {
                            meat[i * k + j] += sign * s[i] * s[j];
                        }
                    }
                }
            }
            matmul(&matmul(&inverse, &meat, k, k, k), &inverse, k, k, k)
        }
    };

    // Inference (normal), R², the Wald test.
    let z_alpha = normal_isf(spec.alpha / 2.0);
    let names: Vec<&String> = spec.exogenous.iter().chain(&spec.endogenous).collect();
    let coefficients: Vec<Coefficient> = (0..k)
        .map(|j| {
            let se = cov[j * k + j].max(0.0).sqrt();
            let est = beta[j];
            Coefficient {
                term: names[j].clone(),
                estimate: Some(est),
                std_error: Some(se),
                t_value: Some(est / se),
                p_value: Some(2.0 * normal_sf((est / se).abs())),
                ci_lower: Some(est - z_alpha * se),
                ci_upper: Some(est + z_alpha * se),
            }
        })
        .collect();
    let sum_w: f64 = cells.iter().map(|c| c.moments.second(0, 0)).sum();
    let y_total: f64 = ys.iter().zip(&m2).map(|(y, m)| (0..d).map(|a| y[0][a] * m[a * d]).sum::<f64>()).sum();
    let mean_y = y_total / sum_w;
    let tss: f64 = ys
        .iter()
        .zip(&m2)
        .map(|(y, m)| {
            let mut y = y[0].clone();
            if spec.intercept {
                y[0] -= mean_y;
            }
            quadratic(&y, m, &y)
        })
        .sum();
    let slopes: Vec<usize> = (usize::from(spec.intercept)..k).collect();
    let q = slopes.len();
    let (wald_statistic, wald_p_value) = if q == 0 {
        (None, None)
    } else {
        let sub: Vec<f64> =
            slopes.iter().flat_map(|&i| slopes.iter().map(move |&j| (i, j))).map(|(i, j)| cov[i * k + j]).collect();
        let f = Factor::new(&sub, q);
        let bs: Vec<f64> = slopes.iter().map(|&i| beta[i]).collect();
        let w: f64 = f.solve(&bs).iter().zip(&bs).map(|(x, y)| x * y).sum();
        let p = ChiSquared::new(q as f64).map_err(|e| StatsError::Shape(format!("chi-square: {e}")))?.sf(w);
        (Some(w), Some(p))
    };
    // First stages: each endogenous regressor on Z (full) and on the exogenous regressors only.
    let exog_f = Factor::new(&szz[..].chunks(m).take(kx).flat_map(|r| r[..kx].to_vec()).collect::<Vec<_>>(), kx);
    let mut first_stage = Vec::new();
    for (e, name) in spec.endogenous.iter().enumerate() {
        let j = kx + e;
        let zx: Vec<f64> = (0..m).map(|i| szx[i * k + j]).collect();
        let xx: f64 = xs.iter().zip(&m2).map(|(x, m)| quadratic(&x[j], m, &x[j])).sum();
        let ssr_full = xx - zf.solve(&zx).iter().zip(&zx).map(|(a, b)| a * b).sum::<f64>();
        let ssr_exog = if kx == 0 {
            xx
        } else {
            xx - exog_f.solve(&zx[..kx]).iter().zip(&zx[..kx]).map(|(a, b)| a * b).sum::<f64>()
        };
        let (df_num, df_denom) = (kz as f64, nf - m as f64);
        // linearmodels' form: the Wald statistic with σ² = SSR/n (not n − m), over q, read
        // against F(q, n − m).
        let f = ((ssr_exog - ssr_full) / df_num) / (ssr_full / nf);
        let p = FisherSnedecor::new(df_num, df_denom).map_err(|e| StatsError::Shape(format!("F: {e}")))?.sf(f);
        first_stage.push(FirstStage {
            endogenous: name.clone(),
            partial_r_squared: 1.0 - ssr_full / ssr_exog,
            f_statistic: f,
            f_p_value: p,
            df_num,
            df_denom,
        });
    }
    Ok(IvFit {
        weak_instruments: first_stage.iter().any(|s| s.f_statistic < 10.0),
        coefficients,
        n,
        df_model: k as f64,
        df_resid: nf - k as f64,
        r_squared: 1.0 - ssr / tss,
        wald_statistic,
        wald_df: q as f64,
        wald_p_value,
        first_stage,
        cov_type: spec.cov.name(),
        covariance: cov,
    })
}

/// Fits a formula with an instrumental-variables block (`y ~ x1 + [d ~ z1 + z2]`) from one
/// [`DesignMoments`] per combination of its categorical levels, then `clusterings` cluster values
/// (as [`super::ols::fit_formula`]).
pub fn fit_formula_iv(
    formula: &Formula,
    design: &Design,
    cells: &Keyed<DesignMoments>,
    cov: IvCov,
    alpha: f64,
    clusterings: usize,
) -> Result<IvFit> {
    let FormulaCells { columns, rows, clusters, .. } = formula_cells(formula, design, cells, clusterings)?;
    let d = value_count(design) + 1;
    let iv_cells: Vec<IvCell<'_>> = cells
        .entries()
        .iter()
        .zip(rows)
        .map(|((_, moments), exogenous)| IvCell {
            moments,
            exogenous,
            endogenous: design.endogenous.iter().map(|&v| unit(d, v + 2)).collect(),
            instruments: design.instruments.iter().map(|&v| unit(d, v + 2)).collect(),
            response: unit(d, 1),
        })
        .collect();
    let spec = IvSpec {
        exogenous: columns.into_iter().map(|c| c.name).collect(),
        endogenous: formula.endogenous.iter().map(|t| formula.term_name(t)).collect(),
        instruments: formula.instruments.iter().map(|t| formula.term_name(t)).collect(),
        intercept: formula.intercept,
        cov,
        alpha,
        clusters,
    };
    fit_iv(&iv_cells, &spec)
}
