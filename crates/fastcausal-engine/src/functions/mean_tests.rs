//! t-tests on metric expressions, their shortcuts, and power: `ttest_2samp`, `ttest_1samp`,
//! `ttests_2samp`, `student_ttest`, `welch_ttest`, `mean_z_test`, `mde`, `sample_size`.
//!
//! ```sql
//! SELECT ttest_2samp(avg(numerator) / avg(denominator), treatment,
//!                    cuped => avg(numerator_pre) / avg(denominator_pre) + avg(x1)) AS r
//! FROM test_data;
//! SELECT x_cat1, ttest_2samp(avg(y), treatment, 'greater', alpha => 0.1) FROM test_data GROUP BY x_cat1;
//! SELECT unnest(ttests_2samp(avg(y), arm, pairs => 'all')) FROM test_data;
//! ```
//!
//! All of them keep one [`CoMoments`] state per arm (and per stratum with `pse =>`) over the
//! columns inside the metric's and the covariates' `avg(...)` terms, in one pass; the math is in
//! [`fastcausal_stats::mean_tests`] and [`fastcausal_stats::power`]. The conventions: differences
//! are treatment − control; the control is the first arm in sorted order unless
//! `control => value`; p-values and intervals come from Student's t with Welch–Satterthwaite
//! degrees of freedom unless `dist => 'normal'` or `equal_var => true`. The fields of each
//! result are documented in `docs/sql.md`.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::logical_expr::AggregateUDF;
use fastcausal_stats::mean_tests::{
    ArmPair, MetricModel, OneSampleTest, Reference, TestOptions, TwoSampleTest, estimate_arms, mean_z_test, one_sample,
    two_sample,
};
use fastcausal_stats::multiple_testing::{benjamini_hochberg, holm};
use fastcausal_stats::power::{minimum_detectable_effect, sample_size_per_arm};
use fastcausal_stats::{Alternative, CoMoments, KeyValue, Keyed, MetricExpr};
use serde::{Deserialize, Serialize};

use super::arms::{Arms, control_arm};
use super::row::{Row, null_of, rows_type, rows_value};
use super::spec::read_spec;
use super::state_accumulator::StateFunction;
use super::udaf::{SpecFunction, SpecUdaf};
use crate::error::stats_error;
use crate::metric_sql::{
    Call, ParsedMetric, Rewritten, bool_option, covariates_argument, key_option, metric_argument, number_option,
    plan_error, string_option,
};

/// The functions of this family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeanTestKind {
    TTest2,
    TTest1,
    TTests2,
    Student,
    Welch,
    MeanZ,
    Mde,
    SampleSize,
}

const KINDS: [MeanTestKind; 8] = [
    MeanTestKind::TTest2,
    MeanTestKind::TTest1,
    MeanTestKind::TTests2,
    MeanTestKind::Student,
    MeanTestKind::Welch,
    MeanTestKind::MeanZ,
    MeanTestKind::Mde,
    MeanTestKind::SampleSize,
];

/// The registered (unbound) functions.
pub fn udafs() -> Vec<AggregateUDF> {
    KINDS.iter().map(|k| SpecUdaf::udaf(*k)).collect()
}

/// The options of one call, produced by the SQL rewrite.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MeanTestSpec {
    /// The metric over `$1…$k`.
    pub metric: String,
    /// CUPED covariate metrics over the same placeholders.
    #[serde(default)]
    pub cuped: Vec<String>,
    /// The value column expressions as written.
    pub columns: Vec<String>,
    /// The key column expressions: the arm (two-sample kinds) and the stratum (with `pse`).
    pub keys: Vec<String>,
    #[serde(default)]
    pub pse: bool,
    #[serde(default)]
    pub alternative: Option<String>,
    #[serde(default)]
    pub alpha: Option<f64>,
    #[serde(default)]
    pub dist: Option<String>,
    #[serde(default)]
    pub equal_var: bool,
    #[serde(default)]
    pub control: Option<serde_json::Value>,
    #[serde(default)]
    pub mu: f64,
    #[serde(default)]
    pub all_pairs: bool,
    #[serde(default)]
    pub power: Option<f64>,
    #[serde(default)]
    pub effect: Option<f64>,
    #[serde(default)]
    pub relative: bool,
    #[serde(default)]
    pub variances: Option<(f64, f64)>,
}

impl MeanTestKind {
    fn two_arms(self) -> bool {
        !matches!(self, MeanTestKind::TTest1)
    }

    fn example(self) -> &'static str {
        match self {
            MeanTestKind::TTest2 => "ttest_2samp(avg(numerator) / avg(denominator), treatment)",
            MeanTestKind::TTest1 => "ttest_1samp(avg(y), mu => 0)",
            MeanTestKind::TTests2 => "ttests_2samp(avg(y), arm)",
            MeanTestKind::Student => "student_ttest(y, treatment)",
            MeanTestKind::Welch => "welch_ttest(y, treatment)",
            MeanTestKind::MeanZ => "mean_z_test(y, treatment, 1.0, 1.5)",
            MeanTestKind::Mde => "mde(avg(numerator) / avg(denominator), treatment, power => 0.8)",
            MeanTestKind::SampleSize => "sample_size(avg(y), treatment, 0.5)",
        }
    }

    /// The options a call may name.
    fn options(self) -> &'static [&'static str] {
        match self {
            MeanTestKind::TTest2 => &["alternative", "cuped", "pse", "control", "alpha", "dist", "equal_var"],
            MeanTestKind::TTest1 => &["alternative", "mu", "cuped", "pse", "alpha", "dist"],
            MeanTestKind::TTests2 => &["alternative", "cuped", "control", "pairs", "alpha", "dist", "equal_var"],
            MeanTestKind::Student | MeanTestKind::Welch => &["alternative", "control", "alpha"],
            MeanTestKind::MeanZ => &["alternative", "control", "confidence_level"],
            MeanTestKind::Mde => &["alternative", "cuped", "control", "alpha", "power"],
            MeanTestKind::SampleSize => &["alternative", "relative", "cuped", "control", "alpha", "power"],
        }
    }
}

/// The SQL rewrite of a call of this family.
pub(crate) fn rewrite(mut call: Call) -> Result<Rewritten> {
    let kind = match call.name.as_str() {
        "ttest_2samp" => MeanTestKind::TTest2,
        "ttest_1samp" => MeanTestKind::TTest1,
        "ttests_2samp" => MeanTestKind::TTests2,
        "student_ttest" => MeanTestKind::Student,
        "welch_ttest" => MeanTestKind::Welch,
        "mean_z_test" => MeanTestKind::MeanZ,
        "mde" => MeanTestKind::Mde,
        "sample_size" => MeanTestKind::SampleSize,
        other => return Err(plan_error(format!("internal: {other} is not a t-test function"))),
    };
    let name = call.name.clone();
    let example = kind.example();
    let mut parsed = ParsedMetric::default();
    // The metric: a metric expression, or a plain column for the ClickHouse-style shortcuts.
    let plain_value = matches!(kind, MeanTestKind::Student | MeanTestKind::Welch | MeanTestKind::MeanZ);
    let first = call.required(0, if plain_value { "a column" } else { "a metric" }, example)?;
    let metric = if plain_value {
        MetricExpr::Mean(parsed.column(&first))
    } else {
        metric_argument(&name, &mut parsed, &first)?
    };
    let mut keys = Vec::new();
    let mut key_names = Vec::new();
    let mut next = 1;
    if kind.two_arms() {
        let arm = call.required(1, "the arm (treatment) column", example)?;
        key_names.push(arm.to_string());
        keys.push(arm);
        next = 2;
    }
    let mut spec = MeanTestSpec { equal_var: matches!(kind, MeanTestKind::Student), ..MeanTestSpec::default() };
    match kind {
        MeanTestKind::SampleSize => {
            let e = call.required(2, "the effect to detect", example)?;
            spec.effect = Some(number_option(&name, "effect", &e)?);
            next = 3;
        }
        MeanTestKind::MeanZ => {
            let v0 = call.required(2, "the control arm's population variance", example)?;
            let v1 = call.required(3, "the treatment arm's population variance", example)?;
            spec.variances =
                Some((number_option(&name, "var_control", &v0)?, number_option(&name, "var_treatment", &v1)?));
            if let Some(e) = call.option(&["confidence_level"], Some(4))? {
                spec.alpha = Some(1.0 - number_option(&name, "confidence_level", &e)?);
            }
            next = 5;
        }
        _ => {}
    }
    if let Some(e) = call.option(&["alternative"], Some(next))? {
        spec.alternative = Some(string_option(&name, "alternative", &e)?);
    }
    let allowed = kind.options();
    if allowed.contains(&"cuped")
        && let Some(e) = call.option(&["cuped", "x"], None)?
    {
        spec.cuped = covariates_argument(&name, &mut parsed, &e)?.iter().map(|m| m.to_string()).collect();
    }
    if allowed.contains(&"pse")
        && let Some(e) = call.option(&["pse"], None)?
    {
        key_names.push(e.to_string());
        keys.push(e);
        spec.pse = true;
    }
    if allowed.contains(&"control")
        && let Some(e) = call.option(&["control"], None)?
    {
        spec.control = Some(key_option(&name, "control", &e)?);
    }
    if allowed.contains(&"alpha")
        && let Some(e) = call.option(&["alpha"], None)?
    {
        spec.alpha = Some(number_option(&name, "alpha", &e)?);
    }
    if allowed.contains(&"dist")
        && let Some(e) = call.option(&["dist"], None)?
    {
        spec.dist = Some(string_option(&name, "dist", &e)?);
    }
    if allowed.contains(&"equal_var")
        && let Some(e) = call.option(&["equal_var"], None)?
    {
        spec.equal_var = bool_option(&name, "equal_var", &e)?;
    }
    if allowed.contains(&"mu")
        && let Some(e) = call.option(&["mu"], None)?
    {
        spec.mu = number_option(&name, "mu", &e)?;
    }
    if allowed.contains(&"pairs")
        && let Some(e) = call.option(&["pairs"], None)?
    {
        spec.all_pairs = match string_option(&name, "pairs", &e)?.as_str() {
            "all" => true,
            "control" => false,
            other => {
                return Err(plan_error(format!(
                    "{name}: pairs => '{other}' is unknown; use 'control' (each arm against control) or 'all'"
                )));
            }
        };
    }
    if allowed.contains(&"power")
        && let Some(e) = call.option(&["power"], None)?
    {
        spec.power = Some(number_option(&name, "power", &e)?);
    }
    if allowed.contains(&"relative")
        && let Some(e) = call.option(&["relative"], None)?
    {
        spec.relative = bool_option(&name, "relative", &e)?;
    }
    call.finish(allowed)?;
    spec.metric = metric.to_string();
    spec.columns = parsed.names();
    spec.keys = key_names;
    // Check the options now, so a bad one fails before any data is read.
    MeanTestFunction::new(kind, spec.clone())?;
    keys.extend(parsed.exprs);
    Ok(Rewritten { spec: serde_json::to_string(&spec).expect("spec serialises"), args: keys, name: None })
}

impl SpecFunction for MeanTestKind {
    type Function = MeanTestFunction;
    fn name(&self) -> &'static str {
        match self {
            MeanTestKind::TTest2 => "ttest_2samp",
            MeanTestKind::TTest1 => "ttest_1samp",
            MeanTestKind::TTests2 => "ttests_2samp",
            MeanTestKind::Student => "student_ttest",
            MeanTestKind::Welch => "welch_ttest",
            MeanTestKind::MeanZ => "mean_z_test",
            MeanTestKind::Mde => "mde",
            MeanTestKind::SampleSize => "sample_size",
        }
    }
    fn return_type(&self) -> DataType {
        match self {
            MeanTestKind::TTest2 | MeanTestKind::Student | MeanTestKind::Welch | MeanTestKind::MeanZ => {
                two_sample_row(&TwoSampleTest::default(), "", "").data_type()
            }
            MeanTestKind::TTests2 => rows_type(&comparison_shape()),
            MeanTestKind::TTest1 => one_sample_row(&OneSampleTest::default()).data_type(),
            MeanTestKind::Mde => mde_row(&ArmPair::default(), 0.0, 0.0, 0.0, 0.0, "", "").data_type(),
            MeanTestKind::SampleSize => SampleSize::default().row().data_type(),
        }
    }
    fn build(&self, spec: &str) -> Result<MeanTestFunction> {
        MeanTestFunction::new(*self, read_spec(self.name(), spec)?)
    }
    fn example(&self) -> &'static str {
        MeanTestKind::example(*self)
    }
}

/// The finish step of one call.
#[derive(Debug)]
pub struct MeanTestFunction {
    kind: MeanTestKind,
    label: String,
    model: MetricModel,
    options: TestOptions,
    keys: Vec<String>,
    pse: bool,
    control: Option<KeyValue>,
    mu: f64,
    all_pairs: bool,
    power: f64,
    effect: Option<f64>,
    relative: bool,
    variances: Option<(f64, f64)>,
}

impl MeanTestFunction {
    fn new(kind: MeanTestKind, spec: MeanTestSpec) -> Result<Self> {
        let name = kind.name();
        let err = |e| stats_error(name, e);
        let metric = MetricExpr::parse(&spec.metric).map_err(err)?;
        let covariates = spec.cuped.iter().map(|c| MetricExpr::parse(c)).collect::<Result<Vec<_>, _>>().map_err(err)?;
        if std::iter::once(&metric).chain(&covariates).any(|m| m.arity() > spec.columns.len()) {
            return plan_err!("{name}: the metric uses more columns than were given");
        }
        let mut options = TestOptions::default();
        if let Some(a) = &spec.alternative {
            options.alternative = Alternative::parse(a).map_err(err)?;
        }
        if let Some(a) = spec.alpha {
            options.alpha = a;
        }
        if let Some(d) = &spec.dist {
            options.reference = Reference::parse(d).map_err(err)?;
        }
        options.equal_var = spec.equal_var;
        options.validate().map_err(err)?;
        let power = spec.power.unwrap_or(0.8);
        if !(power > 0.0 && power < 1.0) {
            return plan_err!("{name}: power must be between 0 and 1 (exclusive), found {power}");
        }
        let label = match kind {
            MeanTestKind::Student | MeanTestKind::Welch | MeanTestKind::MeanZ => {
                format!("{name}({})", spec.columns.first().map_or("", |c| c.as_str()))
            }
            _ => format!("{name}({})", metric.display_with(&spec.columns)),
        };
        let control = control_arm(name, spec.control.as_ref())?;
        Ok(MeanTestFunction {
            kind,
            label,
            model: MetricModel { metric, covariates, names: spec.columns },
            options,
            keys: spec.keys,
            pse: spec.pse,
            control,
            mu: spec.mu,
            all_pairs: spec.all_pairs,
            power,
            effect: spec.effect,
            relative: spec.relative,
            variances: spec.variances,
        })
    }

    fn err(&self, e: fastcausal_stats::StatsError) -> DataFusionError {
        stats_error(&self.label, e)
    }

    /// The cells of one arm, in stratum order, checked against the other arm's strata.
    fn two_sample(&self, arms: &Arms<CoMoments>, control: usize, treatment: usize) -> Result<TwoSampleTest> {
        let (c, t, strata) = arms.aligned_cells(control, treatment, &self.label)?;
        let labels = (arms.label(control), arms.label(treatment));
        two_sample(&self.model, &c, &t, (&labels.0, &labels.1), &strata, &self.options).map_err(|e| self.err(e))
    }

    fn arm_pair(&self, arms: &Arms<CoMoments>, control: usize, treatment: usize) -> Result<ArmPair> {
        let (c, t, strata) = arms.aligned_cells(control, treatment, &self.label)?;
        let labels = (arms.label(control), arms.label(treatment));
        estimate_arms(&self.model, &c, &t, (&labels.0, &labels.1), &strata).map_err(|e| self.err(e))
    }
}

impl StateFunction for MeanTestFunction {
    type State = CoMoments;
    fn label(&self) -> &str {
        &self.label
    }
    fn key_names(&self) -> &[String] {
        &self.keys
    }
    fn column_names(&self) -> &[String] {
        &self.model.names
    }
    fn new_state(&self) -> CoMoments {
        CoMoments::new(self.model.names.len())
    }
    fn data_type(&self) -> DataType {
        self.kind.return_type()
    }
    fn finish(&self, cells: &mut Keyed<CoMoments>) -> Result<ScalarValue> {
        if cells.rows() == 0 {
            return null_of(&self.data_type());
        }
        if self.kind == MeanTestKind::TTest1 {
            let strata: Vec<String> =
                cells.entries().iter().map(|(k, _)| k.first().map_or(String::new(), |v| v.to_string())).collect();
            let states: Vec<&CoMoments> = cells.entries().iter().map(|(_, s)| s).collect();
            let test = one_sample(&self.model, &states, &strata, self.mu, &self.options).map_err(|e| self.err(e))?;
            return one_sample_row(&test).into_scalar();
        }
        let arms = Arms::new(cells, self.pse);
        let arm_column = &self.keys[0];
        if self.kind == MeanTestKind::TTests2 {
            let control = arms.control_index(self.control.as_ref(), arm_column, &self.label)?;
            let mut pairs = Vec::new();
            if self.all_pairs {
                for i in 0..arms.len() {
                    for j in i + 1..arms.len() {
                        pairs.push((i, j));
                    }
                }
            } else {
                pairs.extend((0..arms.len()).filter(|&j| j != control).map(|j| (control, j)));
            }
            if pairs.is_empty() {
                return plan_err!(
                    "{}: the arm column '{arm_column}' has only one value ({}) here; there is nothing to compare",
                    self.label,
                    arms.label(0)
                );
            }
            let tests = pairs.iter().map(|&(i, j)| self.two_sample(&arms, i, j)).collect::<Result<Vec<_>>>()?;
            let p: Vec<f64> = tests.iter().map(|t| t.p_value).collect();
            let (holm, bh) = (holm(&p), benjamini_hochberg(&p));
            let rows = tests
                .iter()
                .zip(&pairs)
                .enumerate()
                .map(|(r, (t, &(i, j)))| {
                    two_sample_row(t, &arms.label(i), &arms.label(j))
                        .float("p_value_holm", holm[r])
                        .float("p_value_bh", bh[r])
                })
                .collect();
            return rows_value(rows, &comparison_shape());
        }
        let (control, treatment) = arms.two_arms(self.control.as_ref(), arm_column, &self.label)?;
        let (l0, l1) = (arms.label(control), arms.label(treatment));
        match self.kind {
            MeanTestKind::TTest2 | MeanTestKind::Student | MeanTestKind::Welch => {
                two_sample_row(&self.two_sample(&arms, control, treatment)?, &l0, &l1).into_scalar()
            }
            MeanTestKind::MeanZ => {
                let (v0, v1) = self.variances.unwrap_or((f64::NAN, f64::NAN));
                let pair = self.arm_pair(&arms, control, treatment)?;
                let test = mean_z_test(
                    (pair.control.n, pair.control.mean),
                    (pair.treatment.n, pair.treatment.mean),
                    v0,
                    v1,
                    &self.options,
                )
                .map_err(|e| self.err(e))?;
                two_sample_row(&test, &l0, &l1).into_scalar()
            }
            MeanTestKind::Mde => {
                let pair = self.arm_pair(&arms, control, treatment)?;
                let stderr = (pair.control.variance + pair.treatment.variance).sqrt();
                let mde = minimum_detectable_effect(stderr, self.options.alpha, self.power, self.options.alternative)
                    .map_err(|e| self.err(e))?;
                mde_row(&pair, stderr, mde, self.options.alpha, self.power, &l0, &l1).into_scalar()
            }
            MeanTestKind::SampleSize => {
                let pair = self.arm_pair(&arms, control, treatment)?;
                let var0 = pair.control.variance * pair.control.n as f64;
                let var1 = pair.treatment.variance * pair.treatment.n as f64;
                let given = self.effect.unwrap_or(f64::NAN);
                let effect = if self.relative { given * pair.control.mean.abs() } else { given };
                let n =
                    sample_size_per_arm(var0, var1, effect, self.options.alpha, self.power, self.options.alternative)
                        .map_err(|e| self.err(e))?;
                SampleSize {
                    n_per_arm: n,
                    effect,
                    sigma0: var0.sqrt(),
                    sigma1: var1.sqrt(),
                    alpha: self.options.alpha,
                    power: self.power,
                }
                .row()
                .into_scalar()
            }
            MeanTestKind::TTest1 | MeanTestKind::TTests2 => unreachable!("handled above"),
        }
    }
}

/// The fields of `ttest_2samp` (and its shortcuts).
fn two_sample_row(t: &TwoSampleTest, control: &str, treatment: &str) -> Row {
    let rel = t.relative;
    Row::new()
        .text("control_arm", control)
        .text("treatment_arm", treatment)
        .int("n0", t.n0)
        .int("n1", t.n1)
        .float("mean0", t.mean0)
        .float("mean1", t.mean1)
        .float("estimate", t.estimate)
        .float("stderr", t.stderr)
        .float("t_statistic", t.t_statistic)
        .opt_float("df", t.df)
        .float("p_value", t.p_value)
        .float("ci_lower", t.ci_lower)
        .float("ci_upper", t.ci_upper)
        .opt_float("relative_estimate", rel.map(|r| r.estimate))
        .opt_float("relative_ci_lower", rel.map(|r| r.ci_lower))
        .opt_float("relative_ci_upper", rel.map(|r| r.ci_upper))
        .floats("theta", t.theta.as_deref())
        .opt_float("variance_reduction", t.variance_reduction)
}

/// One row of `ttests_2samp`: the `ttest_2samp` fields and the adjusted p-values.
fn comparison_shape() -> DataType {
    two_sample_row(&TwoSampleTest::default(), "", "").float("p_value_holm", 0.0).float("p_value_bh", 0.0).data_type()
}

fn one_sample_row(t: &OneSampleTest) -> Row {
    Row::new()
        .int("n", t.n)
        .float("estimate", t.estimate)
        .float("mu", t.mu)
        .float("stderr", t.stderr)
        .float("t_statistic", t.t_statistic)
        .opt_float("df", t.df)
        .float("p_value", t.p_value)
        .float("ci_lower", t.ci_lower)
        .float("ci_upper", t.ci_upper)
        .floats("theta", t.theta.as_deref())
        .opt_float("variance_reduction", t.variance_reduction)
}

fn mde_row(pair: &ArmPair, stderr: f64, mde: f64, alpha: f64, power: f64, control: &str, treatment: &str) -> Row {
    let mean0 = pair.control.mean;
    Row::new()
        .text("control_arm", control)
        .text("treatment_arm", treatment)
        .int("n0", pair.control.n)
        .int("n1", pair.treatment.n)
        .float("mean0", mean0)
        .float("stderr", stderr)
        .float("mde", mde)
        .opt_float("relative_mde", (mean0 != 0.0).then(|| mde / mean0.abs()))
        .float("alpha", alpha)
        .float("power", power)
}

/// The result of `sample_size`.
#[derive(Debug, Default)]
struct SampleSize {
    n_per_arm: u64,
    effect: f64,
    sigma0: f64,
    sigma1: f64,
    alpha: f64,
    power: f64,
}

impl SampleSize {
    fn row(&self) -> Row {
        Row::new()
            .int("n_per_arm", self.n_per_arm)
            .int("n_total", 2 * self.n_per_arm)
            .float("effect", self.effect)
            .float("sigma0", self.sigma0)
            .float("sigma1", self.sigma1)
            .float("alpha", self.alpha)
            .float("power", self.power)
    }
}
