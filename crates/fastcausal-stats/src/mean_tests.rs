//! t-tests on metric expressions: two-sample and one-sample, with CUPED and post-stratification.
//!
//! **The model.** A metric is a smooth function g of column means — `avg(y)`, the ratio
//! `avg(numerator)/avg(denominator)`, `avg(a)/avg(b) − avg(c)` — evaluated per arm of an
//! experiment. Its estimate in arm a is g(x̄ₐ) and its variance the delta-method
//! Vₐ = ∇gᵀ Σ̂ₐ ∇g / nₐ (see [`crate::delta_method`]). Arms are independent, so the difference
//! treatment − control has variance V₀ + V₁, and the t statistic (g₁ − g₀)/√(V₀ + V₁) is
//! referred to Student's t with Welch–Satterthwaite degrees of freedom
//! (V₀ + V₁)² / (V₀²/(n₀−1) + V₁²/(n₁−1)), or to the normal distribution on request. For
//! `avg(y)` this is exactly Welch's test; `equal_var` gives Student's pooled-variance test.
//!
//! **CUPED** (variance reduction with pre-experiment covariates, Deng et al. 2013) subtracts
//! θᵀ(h(x̄ₐ) − h(x̄)) from each arm's estimate, where h₁…h_m are covariate metrics (themselves
//! metric expressions, such as the pre-period ratio) and x̄ the pooled means of both arms. θ is
//! the regression of the metric on the covariates in the pooled sample, in delta-method terms:
//! θ = A⁻¹b with A_kl = ∇h_kᵀ Σ̂ ∇h_l and b_k = ∇h_kᵀ Σ̂ ∇g. The adjusted variance of an arm is
//! Var(g − θᵀh) = C(g,g) − 2θᵀC(h,g) + θᵀC(h,h)θ with C(u,v) = ∇uᵀ Σ̂ₐ ∇v / nₐ. This is the
//! definition of Tencent's fast-causal-inference, whose published numbers it reproduces.
//!
//! **Post-stratification** (PSE) estimates each arm's metric within strata s of a
//! pre-experiment variable and recombines them with the pooled stratum shares w_s = N_s / N
//! (both arms together): ĝₐ = Σ w_s g(x̄ₐₛ), Vₐ = Σ w_s² Vₐₛ.
//!
//! The relative effect (g₁ − g₀)/g₀ = g₁/g₀ − 1 has its own delta-method variance
//! V₁/g₀² + g₁²V₀/g₀⁴ and interval, from the same reference distribution.

use faer::Mat;
use faer::linalg::solvers::Solve;

use crate::alternative::Alternative;
use crate::distributions::{StudentT, normal_isf, normal_sf};
use crate::error::{Result, StatsError};
use crate::metric::MetricExpr;
use crate::moments::CoMoments;

/// The distribution p-values and intervals are taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reference {
    /// Student's t (Welch–Satterthwaite or pooled degrees of freedom).
    #[default]
    StudentT,
    /// The standard normal (a z-test).
    Normal,
}

impl Reference {
    /// Parses `'t'` or `'normal'` (also `'z'`).
    pub fn parse(text: &str) -> Result<Reference> {
        match text.trim().to_ascii_lowercase().as_str() {
            "t" | "student" | "student_t" => Ok(Reference::StudentT),
            "normal" | "z" | "norm" => Ok(Reference::Normal),
            _ => Err(StatsError::InvalidOption {
                option: "dist".into(),
                message: format!("unknown distribution '{text}'; use 't' or 'normal'"),
            }),
        }
    }
}

/// Options shared by the t-tests.
#[derive(Debug, Clone, PartialEq)]
pub struct TestOptions {
    pub alternative: Alternative,
    /// 1 − confidence level of the intervals.
    pub alpha: f64,
    pub reference: Reference,
    /// Student's pooled variance instead of Welch's separate variances.
    pub equal_var: bool,
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions {
            alternative: Alternative::TwoSided,
            alpha: 0.05,
            reference: Reference::StudentT,
            equal_var: false,
        }
    }
}

impl TestOptions {
    /// Checks `alpha`.
    pub fn validate(&self) -> Result<()> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(StatsError::InvalidOption {
                option: "alpha".into(),
                message: format!("alpha must be between 0 and 1 (exclusive), found {}", self.alpha),
            });
        }
        Ok(())
    }
}

/// A metric and its CUPED covariates, all over the columns of one [`CoMoments`] state.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricModel {
    pub metric: MetricExpr,
    /// Covariate metrics h₁…h_m (empty: no CUPED).
    pub covariates: Vec<MetricExpr>,
    /// Column names, for messages.
    pub names: Vec<String>,
}

/// Per-unit test result pieces of one arm (or one sample).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ArmEstimate {
    /// Rows used.
    pub n: u64,
    /// The (CUPED-adjusted, post-stratified) metric.
    pub mean: f64,
    /// Variance of `mean`.
    pub variance: f64,
    /// Variance without CUPED (equal to `variance` without covariates).
    pub unadjusted_variance: f64,
}

/// A two-sample test's result; field meanings as in the SQL documentation of `ttest_2samp`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TwoSampleTest {
    pub n0: u64,
    pub n1: u64,
    pub mean0: f64,
    pub mean1: f64,
    pub estimate: f64,
    pub stderr: f64,
    pub t_statistic: f64,
    /// None for the normal reference.
    pub df: Option<f64>,
    pub p_value: f64,
    pub ci_lower: f64,
    pub ci_upper: f64,
    /// None when mean0 is zero.
    pub relative: Option<Relative>,
    /// CUPED coefficients (None without covariates).
    pub theta: Option<Vec<f64>>,
    /// 1 − adjusted / unadjusted variance of the difference (None without covariates).
    pub variance_reduction: Option<f64>,
}

/// The relative effect (treatment − control) / control and its interval.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Relative {
    pub estimate: f64,
    pub ci_lower: f64,
    pub ci_upper: f64,
}

/// A one-sample test's result; field meanings as in the SQL documentation of `ttest_1samp`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OneSampleTest {
    pub n: u64,
    pub estimate: f64,
    pub mu: f64,
    pub stderr: f64,
    pub t_statistic: f64,
    pub df: Option<f64>,
    pub p_value: f64,
    pub ci_lower: f64,
    pub ci_upper: f64,
    pub theta: Option<Vec<f64>>,
    pub variance_reduction: Option<f64>,
}

/// Value and gradient of each of `fns` at the means of `m`.
fn linearise(fns: &[&MetricExpr], m: &CoMoments, names: &[String]) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
    let mut values = Vec::with_capacity(fns.len());
    let mut grads = Vec::with_capacity(fns.len());
    for f in fns {
        let (v, g) = f.value_and_gradient_named(m.means(), names)?;
        values.push(v);
        grads.push(g);
    }
    Ok((values, grads))
}

/// ∇uᵀ Σ̂ ∇v, Σ̂ the sample covariance of `m`'s columns.
fn quad(m: &CoMoments, gu: &[f64], gv: &[f64]) -> f64 {
    let k = m.dim();
    let mut s = 0.0;
    for j in 0..k {
        if gu[j] == 0.0 {
            continue;
        }
        for l in 0..k {
            s += gu[j] * m.covariance(j, l) * gv[l];
        }
    }
    s
}

fn require_rows(m: &CoMoments, what: &str) -> Result<()> {
    if m.count() < 2 {
        return Err(StatsError::TooFewRowsIn { what: what.to_owned(), needed: 2, found: m.count() });
    }
    Ok(())
}

impl MetricModel {
    fn functions(&self) -> Vec<&MetricExpr> {
        std::iter::once(&self.metric).chain(&self.covariates).collect()
    }

    /// CUPED's θ from a (pooled) sample: the solution of A θ = b. Also returns the covariate
    /// values at the sample's means.
    pub fn theta(&self, pooled: &CoMoments) -> Result<(Vec<f64>, Vec<f64>)> {
        let (values, grads) = linearise(&self.functions(), pooled, &self.names)?;
        let m = self.covariates.len();
        let a = Mat::<f64>::from_fn(m, m, |k, l| quad(pooled, &grads[k + 1], &grads[l + 1]));
        let b = Mat::<f64>::from_fn(m, 1, |k, _| quad(pooled, &grads[k + 1], &grads[0]));
        let scale = (0..m).map(|k| a[(k, k)]).fold(0.0f64, f64::max);
        let singular = || StatsError::UndefinedMetric {
            reason: "the CUPED covariates have no variance or are collinear (one is a combination of the others); \
                     drop the redundant ones"
                .into(),
        };
        if !(scale > 0.0) {
            return Err(singular());
        }
        let lu = a.partial_piv_lu();
        let theta = lu.solve(&b);
        // A rank-deficient A shows as a tiny pivot relative to its diagonal.
        let min_pivot = (0..m).map(|k| lu.U()[(k, k)].abs()).fold(f64::INFINITY, f64::min);
        if !(min_pivot > 1e-12 * scale) || (0..m).any(|k| !theta[(k, 0)].is_finite()) {
            return Err(singular());
        }
        Ok(((0..m).map(|k| theta[(k, 0)]).collect(), values[1..].to_vec()))
    }

    /// One arm's (or one stratum cell's) estimate. With `cuped = Some((θ, h̄))` the estimate is
    /// adjusted by θᵀ(h(x̄ₐ) − h̄) and the variance is that of g − θᵀh.
    pub fn estimate(&self, m: &CoMoments, cuped: Option<(&[f64], &[f64])>, what: &str) -> Result<ArmEstimate> {
        require_rows(m, what)?;
        let n = m.count();
        let nf = n as f64;
        let (values, grads) = linearise(&self.functions(), m, &self.names)?;
        let raw = (quad(m, &grads[0], &grads[0]) / nf).max(0.0);
        let Some((theta, pooled_h)) = cuped else {
            return Ok(ArmEstimate { n, mean: values[0], variance: raw, unadjusted_variance: raw });
        };
        let mut mean = values[0];
        let mut variance = quad(m, &grads[0], &grads[0]);
        for (k, tk) in theta.iter().enumerate() {
            mean -= tk * (values[k + 1] - pooled_h[k]);
            variance -= 2.0 * tk * quad(m, &grads[k + 1], &grads[0]);
            for (l, tl) in theta.iter().enumerate() {
                variance += tk * tl * quad(m, &grads[k + 1], &grads[l + 1]);
            }
        }
        Ok(ArmEstimate { n, mean, variance: (variance / nf).max(0.0), unadjusted_variance: raw })
    }
}

/// The reference distribution of a test, ready to give tail probabilities and quantiles.
#[derive(Debug, Clone, Copy)]
enum Dist {
    T(StudentT),
    Normal,
}

impl Dist {
    fn new(reference: Reference, df: f64) -> Result<Dist> {
        Ok(match reference {
            Reference::Normal => Dist::Normal,
            Reference::StudentT => Dist::T(StudentT::new(df)?),
        })
    }
    fn sf(self, x: f64) -> f64 {
        match self {
            Dist::T(t) => t.sf(x),
            Dist::Normal => normal_sf(x),
        }
    }
    fn isf(self, p: f64) -> f64 {
        match self {
            Dist::T(t) => t.isf(p),
            Dist::Normal => normal_isf(p),
        }
    }
    fn df(self) -> Option<f64> {
        match self {
            Dist::T(t) => Some(t.df()),
            Dist::Normal => None,
        }
    }

    /// p-value of statistic `t` under `alternative`.
    fn p_value(self, t: f64, alternative: Alternative) -> f64 {
        match alternative {
            Alternative::TwoSided => (2.0 * self.sf(t.abs())).min(1.0),
            Alternative::Greater => self.sf(t),
            Alternative::Less => self.sf(-t),
        }
    }

    /// The interval `center ± q·se` at level 1 − alpha, one-sided for one-sided alternatives.
    fn interval(self, center: f64, se: f64, alpha: f64, alternative: Alternative) -> (f64, f64) {
        match alternative {
            Alternative::TwoSided => {
                let q = self.isf(alpha / 2.0);
                (center - q * se, center + q * se)
            }
            Alternative::Greater => (center - self.isf(alpha) * se, f64::INFINITY),
            Alternative::Less => (f64::NEG_INFINITY, center + self.isf(alpha) * se),
        }
    }
}

fn zero_variance() -> StatsError {
    StatsError::UndefinedMetric {
        reason: "the metric has zero variance in both samples, so the test statistic is undefined".into(),
    }
}

/// Compares two arm estimates: treatment (`arm1`) − control (`arm0`).
pub fn compare(arm0: ArmEstimate, arm1: ArmEstimate, options: &TestOptions) -> Result<TwoSampleTest> {
    options.validate()?;
    let (n0, n1) = (arm0.n as f64, arm1.n as f64);
    let (v0, v1, df) = if options.equal_var {
        let pooled = ((n0 - 1.0) * arm0.variance * n0 + (n1 - 1.0) * arm1.variance * n1) / (n0 + n1 - 2.0);
        (pooled / n0, pooled / n1, n0 + n1 - 2.0)
    } else {
        let (v0, v1) = (arm0.variance, arm1.variance);
        let df = (v0 + v1).powi(2) / (v0 * v0 / (n0 - 1.0) + v1 * v1 / (n1 - 1.0));
        (v0, v1, df)
    };
    let variance = v0 + v1;
    if !(variance > 0.0) {
        return Err(zero_variance());
    }
    let stderr = variance.sqrt();
    let estimate = arm1.mean - arm0.mean;
    let t = estimate / stderr;
    let dist = Dist::new(options.reference, df)?;
    let p_value = dist.p_value(t, options.alternative);
    let (ci_lower, ci_upper) = dist.interval(estimate, stderr, options.alpha, options.alternative);
    let relative = (arm0.mean != 0.0).then(|| {
        let (g0, g1) = (arm0.mean, arm1.mean);
        let rel = g1 / g0 - 1.0;
        let var = v1 / (g0 * g0) + g1 * g1 * v0 / g0.powi(4);
        let (lo, hi) = dist.interval(rel, var.sqrt(), options.alpha, options.alternative);
        Relative { estimate: rel, ci_lower: lo, ci_upper: hi }
    });
    Ok(TwoSampleTest {
        n0: arm0.n,
        n1: arm1.n,
        mean0: arm0.mean,
        mean1: arm1.mean,
        estimate,
        stderr,
        t_statistic: t,
        df: dist.df(),
        p_value,
        ci_lower,
        ci_upper,
        relative,
        theta: None,
        variance_reduction: None,
    })
}

/// Cells of one arm: one [`CoMoments`] per stratum (a single cell without post-stratification).
pub type ArmCells<'a> = &'a [&'a CoMoments];

/// Both arms' estimates, ready for [`compare`]; `theta` is CUPED's θ when covariates are used.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ArmPair {
    pub control: ArmEstimate,
    pub treatment: ArmEstimate,
    pub theta: Option<Vec<f64>>,
}

/// Estimates both arms of `model`: plain, CUPED-adjusted (θ from the pooled arms) or
/// post-stratified.
///
/// Without post-stratification each arm is one cell; with it, `control[s]` and `treatment[s]`
/// are the cells of stratum s (named `strata[s]` in messages), and both must exist. CUPED and
/// post-stratification cannot be combined.
pub fn estimate_arms(
    model: &MetricModel,
    control: ArmCells,
    treatment: ArmCells,
    labels: (&str, &str),
    strata: &[String],
) -> Result<ArmPair> {
    let cuped = !model.covariates.is_empty();
    if control.len() != 1 || treatment.len() != 1 {
        if cuped {
            return Err(StatsError::InvalidOption {
                option: "pse".into(),
                message: "post-stratification and CUPED cannot be combined; use one of them".into(),
            });
        }
        let total: f64 = control.iter().chain(treatment).map(|c| c.count() as f64).sum();
        let mut arms = [ArmEstimate { n: 0, mean: 0.0, variance: 0.0, unadjusted_variance: 0.0 }; 2];
        for s in 0..control.len() {
            let w = (control[s].count() + treatment[s].count()) as f64 / total;
            for (a, (cells, label)) in [(control, labels.0), (treatment, labels.1)].into_iter().enumerate() {
                let what = format!("arm {label} in stratum {}", strata.get(s).map_or("?", |x| x.as_str()));
                let e = model.estimate(cells[s], None, &what)?;
                arms[a].n += e.n;
                arms[a].mean += w * e.mean;
                arms[a].variance += w * w * e.variance;
            }
        }
        for a in &mut arms {
            a.unadjusted_variance = a.variance;
        }
        return Ok(ArmPair { control: arms[0], treatment: arms[1], theta: None });
    }
    let (c, t) = (control[0], treatment[0]);
    let what0 = format!("arm {}", labels.0);
    let what1 = format!("arm {}", labels.1);
    if !cuped {
        return Ok(ArmPair {
            control: model.estimate(c, None, &what0)?,
            treatment: model.estimate(t, None, &what1)?,
            theta: None,
        });
    }
    require_rows(c, &what0)?;
    require_rows(t, &what1)?;
    let mut pooled = c.clone();
    pooled.merge(t);
    let (theta, pooled_h) = model.theta(&pooled)?;
    Ok(ArmPair {
        control: model.estimate(c, Some((&theta, &pooled_h)), &what0)?,
        treatment: model.estimate(t, Some((&theta, &pooled_h)), &what1)?,
        theta: Some(theta),
    })
}

/// The two-sample t-test of `model`, treatment − control; see [`estimate_arms`] for the cells.
pub fn two_sample(
    model: &MetricModel,
    control: ArmCells,
    treatment: ArmCells,
    labels: (&str, &str),
    strata: &[String],
    options: &TestOptions,
) -> Result<TwoSampleTest> {
    let arms = estimate_arms(model, control, treatment, labels, strata)?;
    let mut test = compare(arms.control, arms.treatment, options)?;
    if let Some(theta) = arms.theta {
        let raw = arms.control.unadjusted_variance + arms.treatment.unadjusted_variance;
        let adjusted = arms.control.variance + arms.treatment.variance;
        test.variance_reduction = Some(if raw > 0.0 { 1.0 - adjusted / raw } else { 0.0 });
        test.theta = Some(theta);
    }
    Ok(test)
}

/// The one-sample t-test of H₀: metric = `mu`. `cells` holds one cell, or one per stratum for
/// post-stratification (weights n_s / n). With CUPED the variance is reduced but the estimate is
/// not shifted (the sample is its own pooled sample).
pub fn one_sample(
    model: &MetricModel,
    cells: &[&CoMoments],
    strata: &[String],
    mu: f64,
    options: &TestOptions,
) -> Result<OneSampleTest> {
    options.validate()?;
    if !mu.is_finite() {
        return Err(StatsError::InvalidOption {
            option: "mu".into(),
            message: format!("mu must be a finite number, found {mu}"),
        });
    }
    let cuped = !model.covariates.is_empty();
    let (arm, theta) = if cells.len() == 1 {
        let m = cells[0];
        if cuped {
            require_rows(m, "the sample")?;
            let (theta, h) = model.theta(m)?;
            (model.estimate(m, Some((&theta, &h)), "the sample")?, Some(theta))
        } else {
            (model.estimate(m, None, "the sample")?, None)
        }
    } else {
        if cuped {
            return Err(StatsError::InvalidOption {
                option: "pse".into(),
                message: "post-stratification and CUPED cannot be combined; use one of them".into(),
            });
        }
        let total: f64 = cells.iter().map(|c| c.count() as f64).sum();
        let mut arm = ArmEstimate { n: 0, mean: 0.0, variance: 0.0, unadjusted_variance: 0.0 };
        for (s, cell) in cells.iter().enumerate() {
            let w = cell.count() as f64 / total;
            let e = model.estimate(cell, None, &format!("stratum {}", strata.get(s).map_or("?", |x| x.as_str())))?;
            arm.n += e.n;
            arm.mean += w * e.mean;
            arm.variance += w * w * e.variance;
        }
        arm.unadjusted_variance = arm.variance;
        (arm, None)
    };
    if !(arm.variance > 0.0) {
        return Err(zero_variance());
    }
    let stderr = arm.variance.sqrt();
    let t = (arm.mean - mu) / stderr;
    let dist = Dist::new(options.reference, arm.n as f64 - 1.0)?;
    let (ci_lower, ci_upper) = dist.interval(arm.mean, stderr, options.alpha, options.alternative);
    Ok(OneSampleTest {
        n: arm.n,
        estimate: arm.mean,
        mu,
        stderr,
        t_statistic: t,
        df: dist.df(),
        p_value: dist.p_value(t, options.alternative),
        ci_lower,
        ci_upper,
        variance_reduction: theta
            .as_ref()
            .map(|_| if arm.unadjusted_variance > 0.0 { 1.0 - arm.variance / arm.unadjusted_variance } else { 0.0 }),
        theta,
    })
}

/// A z-test with known population variances `var0`, `var1` of one observation (ClickHouse's
/// `meanZTest`): z = (x̄₁ − x̄₀)/√(σ₀²/n₀ + σ₁²/n₁).
pub fn mean_z_test(
    arm0: (u64, f64),
    arm1: (u64, f64),
    var0: f64,
    var1: f64,
    options: &TestOptions,
) -> Result<TwoSampleTest> {
    for (name, v) in [("var_control", var0), ("var_treatment", var1)] {
        if !(v > 0.0 && v.is_finite()) {
            return Err(StatsError::InvalidOption {
                option: name.into(),
                message: format!("a population variance must be a positive number, found {v}"),
            });
        }
    }
    let estimate = |(n, mean): (u64, f64), var: f64| ArmEstimate {
        n,
        mean,
        variance: var / n as f64,
        unadjusted_variance: var / n as f64,
    };
    let options = TestOptions { reference: Reference::Normal, equal_var: false, ..options.clone() };
    compare(estimate(arm0, var0), estimate(arm1, var1), &options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(cols: &[&[f64]]) -> CoMoments {
        let mut m = CoMoments::new(cols.len());
        m.update(cols).unwrap();
        m
    }

    fn mean_model() -> MetricModel {
        MetricModel { metric: MetricExpr::parse("$1").unwrap(), covariates: vec![], names: vec!["y".into()] }
    }

    #[test]
    fn welch_by_hand() {
        // control 1,2,3,4 (mean 2.5, s² 5/3); treatment 2,4,6,8,10 (mean 6, s² 10).
        let c = moments(&[&[1.0, 2.0, 3.0, 4.0]]);
        let t = moments(&[&[2.0, 4.0, 6.0, 8.0, 10.0]]);
        let r = two_sample(&mean_model(), &[&c], &[&t], ("0", "1"), &[], &TestOptions::default()).unwrap();
        let (v0, v1): (f64, f64) = (5.0 / 3.0 / 4.0, 10.0 / 5.0);
        assert_eq!(r.estimate, 3.5);
        assert!((r.stderr - (v0 + v1).sqrt()).abs() < 1e-15);
        let df = (v0 + v1).powi(2) / (v0 * v0 / 3.0 + v1 * v1 / 4.0);
        assert!((r.df.unwrap() - df).abs() < 1e-12 * df);
        assert_eq!(r.relative.unwrap().estimate, 6.0 / 2.5 - 1.0);
    }

    #[test]
    fn student_pools_the_variances() {
        let c = moments(&[&[1.0, 2.0, 3.0, 4.0]]);
        let t = moments(&[&[2.0, 4.0, 6.0, 8.0, 10.0]]);
        let opts = TestOptions { equal_var: true, ..TestOptions::default() };
        let r = two_sample(&mean_model(), &[&c], &[&t], ("0", "1"), &[], &opts).unwrap();
        // sp² = (3·5/3 + 4·10)/7 = 45/7
        let se = (45.0f64 / 7.0 * (1.0 / 4.0 + 1.0 / 5.0)).sqrt();
        assert!((r.stderr - se).abs() < 1e-15);
        assert_eq!(r.df, Some(7.0));
    }

    #[test]
    fn cuped_with_a_perfect_covariate_removes_all_noise_but_the_shift() {
        // y = x + 10·arm: the covariate explains every deviation, so the adjusted variance is 0
        // in each arm, which is an error (no variance left), but θ is exactly 1.
        let c = moments(&[&[1.0, 2.0, 4.0], &[1.0, 2.0, 4.0]]);
        let model = MetricModel {
            metric: MetricExpr::parse("$1").unwrap(),
            covariates: vec![MetricExpr::parse("$2").unwrap()],
            names: vec!["y".into(), "x".into()],
        };
        let (theta, h) = model.theta(&c).unwrap();
        assert!((theta[0] - 1.0).abs() < 1e-15);
        assert!((h[0] - 7.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn errors_are_named() {
        let one = moments(&[&[1.0]]);
        let t = moments(&[&[2.0, 4.0]]);
        let err = two_sample(&mean_model(), &[&one], &[&t], ("0", "1"), &[], &TestOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), "arm 0 needs at least 2 rows with non-NULL values, but found 1");
        let flat = moments(&[&[2.0, 2.0]]);
        let err = two_sample(&mean_model(), &[&flat], &[&flat], ("0", "1"), &[], &TestOptions::default()).unwrap_err();
        assert!(err.to_string().contains("zero variance"), "{err}");
        let bad = TestOptions { alpha: 1.5, ..TestOptions::default() };
        let err = two_sample(&mean_model(), &[&t], &[&t], ("0", "1"), &[], &bad).unwrap_err();
        assert!(err.to_string().contains("alpha must be between 0 and 1"), "{err}");
    }
}
