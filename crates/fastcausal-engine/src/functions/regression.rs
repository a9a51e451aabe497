//! Linear regression in SQL: `ols`, `wls`, `did` (difference-in-differences) and `iv` (two-stage
//! least squares).
//!
//! ```sql
//! SELECT ols('y ~ x1 + x2 + t_ob') FROM test_data;
//! SELECT ols('y ~ treatment + x1 + C(x_cat1)', cov => 'HC1') FROM test_data;
//! SELECT x_cat1, wls('y ~ x1 + np.log(x3)', weight) FROM test_data GROUP BY x_cat1;
//! SELECT unnest(r.coefficients) FROM (SELECT ols('y ~ x1 * x2') AS r FROM test_data);
//! SELECT did(y, treated, post, x1, cluster => user_id) FROM panel;
//! SELECT iv('y ~ x1 + x2 + [t_ob ~ treatment]', cov => 'robust') FROM test_data;
//! ```
//!
//! `iv` fits 2SLS as linearmodels' `IV2SLS` (see [`fastcausal_stats::regression::iv`]): the same
//! keyed moments, with the endogenous regressors and the excluded instruments among the values;
//! `cov => 'unadjusted' | 'robust' | 'clustered'` (or `cluster =>`).
//!
//! `did(y, treated, post, covariates…)` is the OLS fit of `y ~ treated * post + covariates` and
//! returns the `treated:post` coefficient — the difference-in-differences estimate — with its
//! inference, under the same options.
//!
//! The formula (see [`fastcausal_stats::regression::formula`]) is parsed when the query is
//! planned; the call becomes an aggregate over the categorical factors (as keys) and the numeric
//! products the design needs (as values), keeping one [`DesignMoments`] state per combination of
//! levels — second moments, and fourth moments for robust errors — so every model is fitted in
//! one pass, per group with `GROUP BY`. Rows with a NULL in any used column are skipped.
//!
//! Options: `weights => column` (the second argument of `wls`), `cov => 'classical' | 'HC0' |
//! 'HC1'` (statsmodels' `nonrobust` is accepted for classical), `cluster => column` or
//! `cluster => (column, column)` for one- or two-way cluster-robust errors (the cluster becomes
//! one more key, so each cluster keeps its own second moments), and `alpha => 0.05`. The result
//! fields are documented in `docs/sql.md`: the coefficient rows (`term, estimate, std_error,
//! t_value, p_value, ci_lower, ci_upper`; all NULL for a term dropped as collinear) and the model
//! statistics as statsmodels reports them.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::AggregateUDF;
use datafusion::sql::sqlparser::ast::Expr as SqlExpr;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use std::collections::{HashMap, HashSet};

use fastcausal_stats::regression::formula::{Expr, Function, Operator};
use fastcausal_stats::regression::iv::{FirstStage, IvCov, IvFit, fit_formula_iv};
use fastcausal_stats::regression::leverage::{LeverageMoments, LeverageParameters, cell_maps, leverage_parameters};
use fastcausal_stats::regression::model::FactorLevels;
use fastcausal_stats::regression::ols::{fit_formula, fit_formula_leverage, fourth_sides, value_count};
use fastcausal_stats::regression::{Coefficient, CovType, Design, DesignMoments, Formula, LinearFit};
use fastcausal_stats::{KeyRef, KeyValue, Keyed, StateCodec};
use serde::{Deserialize, Serialize};

use super::logistic::{combinations, split_groups};
use super::row::{Row, null_of, rows_type, rows_value};
use super::spec::read_spec;
use super::state_accumulator::StateFunction;
use super::udaf::{SpecFunction, SpecUdaf};
use crate::error::stats_error;
use crate::metric_sql::{Call, Rewritten, number_option, plan_error, string_option};

/// The linear-model functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinearKind {
    Ols,
    Wls,
    Did,
    Iv,
    /// `ols_pass`: the first pass of an HC2/HC3 fit, run by the engine (its value is the state).
    Pass,
}

/// The registered (unbound) functions.
pub fn udafs() -> Vec<AggregateUDF> {
    vec![
        SpecUdaf::udaf(LinearKind::Ols),
        SpecUdaf::udaf(LinearKind::Wls),
        SpecUdaf::udaf(LinearKind::Did),
        SpecUdaf::udaf(LinearKind::Iv),
        SpecUdaf::udaf(LinearKind::Pass),
        SpecUdaf::udaf(LeverageKind),
    ]
}

/// The options of one call, produced by the SQL rewrite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearSpec {
    pub formula: String,
    /// The weight expression as written, if any.
    #[serde(default)]
    pub weights: Option<String>,
    pub cov: String,
    pub alpha: f64,
    /// The cluster expressions as written (one or two), for cluster-robust errors.
    #[serde(default)]
    pub clusters: Vec<String>,
    /// For formulas written by the rewrite (`did`): the SQL expression of each column `vN`.
    #[serde(default)]
    pub variables: Vec<String>,
    /// For HC2/HC3: the `GROUP BY` expressions as written, passed first among the keys.
    #[serde(default)]
    pub groups: Vec<String>,
    /// For HC2/HC3: each group's first-pass fit, filled in by the engine (see
    /// [`crate::multipass`]); absent until then.
    #[serde(default)]
    pub leverage: Option<Vec<LeverageGroup>>,
}

/// One group's first-pass fit of an HC2/HC3 model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeverageGroup {
    /// The values of the `GROUP BY` expressions (empty without `GROUP BY`).
    pub group: Vec<KeyValue>,
    #[serde(flatten)]
    pub at: LeverageParameters,
}

const OPTIONS: [&str; 4] = ["weights", "cov", "cluster", "alpha"];

fn parse_cov(name: &str) -> std::result::Result<CovType, String> {
    match name.to_ascii_lowercase().as_str() {
        "classical" | "nonrobust" => Ok(CovType::Classical),
        "hc0" => Ok(CovType::HC0),
        "hc1" => Ok(CovType::HC1),
        "hc2" => Ok(CovType::HC2),
        "hc3" => Ok(CovType::HC3),
        "cluster" => Ok(CovType::Cluster),
        other => Err(format!(
            "unknown covariance type '{other}'; use 'classical', 'HC0', 'HC1', 'HC2', 'HC3' or cluster => column for 'cluster'"
        )),
    }
}

/// The names of a formula's inputs, for messages: its categorical factors (the keys) and its
/// value columns (the response, then each product of numeric factors, as `a:b`), each factor
/// code shown through `shown`.
pub(super) fn input_names(
    formula: &Formula,
    design: &Design,
    shown: impl Fn(&str) -> String,
) -> (Vec<String>, Vec<String>) {
    let keys = design.keys.iter().map(|&f| shown(&formula.factors[f].code)).collect();
    let mut columns = vec![shown(&formula.response.code)];
    columns.extend(
        design.values.iter().map(|p| p.iter().map(|&f| shown(&formula.factors[f].code)).collect::<Vec<_>>().join(":")),
    );
    (keys, columns)
}

/// The `cluster => column` or `cluster => (column, column)` option of a model call (also spelt
/// `groups =>`): one or two cluster expressions, or none.
pub(super) fn cluster_option(call: &mut Call) -> Result<Vec<SqlExpr>> {
    let name = call.name.clone();
    Ok(match call.option(&["cluster", "groups"], None)? {
        None => Vec::new(),
        Some(SqlExpr::Tuple(items)) if (1..=2).contains(&items.len()) => items,
        Some(SqlExpr::Tuple(items)) => {
            return Err(plan_error(format!(
                "{name}: cluster => takes one column or two in parentheses, found {}",
                items.len()
            )));
        }
        Some(SqlExpr::Nested(inner)) => vec![*inner],
        Some(e) => vec![e],
    })
}

/// What to suggest for a text column used as a number in a formula.
pub(super) fn categorical_hint(column: &str) -> String {
    format!("write C({column}) in the formula to use it as a categorical factor")
}

/// A formula error with the formula shown and the position marked.
pub(super) fn formula_error(
    function: &str,
    formula: &str,
    e: fastcausal_stats::StatsError,
) -> datafusion::common::DataFusionError {
    let marker = match &e {
        fastcausal_stats::StatsError::InvalidFormula { position, .. } => {
            let column = formula[..(*position).min(formula.len())].chars().count();
            format!("\n  {formula}\n  {}^", " ".repeat(column))
        }
        _ => String::new(),
    };
    plan_error(format!("{function}: {e}{marker}"))
}

/// A formula's column as SQL: a quoted identifier, or for a formula written by the rewrite the
/// expression it stands for.
fn column_sql(c: &str, variables: &[String]) -> String {
    match c.strip_prefix('v').and_then(|i| i.parse::<usize>().ok()).and_then(|i| variables.get(i)) {
        Some(e) => format!("({e})"),
        None => format!("\"{}\"", c.replace('"', "\"\"")),
    }
}

/// SQL text of a numeric expression, columns read as DOUBLE (so `/` is true division).
fn sql_text(e: &Expr, variables: &[String]) -> String {
    let sql_text = |e: &Expr| sql_text(e, variables);
    match e {
        Expr::Column(c) => format!("CAST({} AS DOUBLE)", column_sql(c, variables)),
        Expr::Number(n) => format!("CAST({n} AS DOUBLE)"),
        Expr::Negate(a) => format!("(-{})", sql_text(a)),
        Expr::Group(a) => format!("({})", sql_text(a)),
        Expr::Binary(Operator::Power, a, b) => format!("power({}, {})", sql_text(a), sql_text(b)),
        Expr::Binary(op, a, b) => {
            let symbol = match op {
                Operator::Add => "+",
                Operator::Subtract => "-",
                Operator::Multiply => "*",
                _ => "/",
            };
            format!("({} {symbol} {})", sql_text(a), sql_text(b))
        }
        Expr::Call { function, arg, .. } => {
            let name = match function {
                Function::Log => "ln",
                Function::Log2 => "log2",
                Function::Log10 => "log10",
                Function::Exp => "exp",
                Function::Sqrt => "sqrt",
                Function::Abs => "abs",
            };
            format!("{name}({})", sql_text(arg))
        }
    }
}

/// The SQL argument for a factor: a bare column stays a column (so its type is checked with a
/// clear message), anything else is computed in DOUBLE.
fn factor_sql(e: &Expr, variables: &[String]) -> String {
    match e {
        Expr::Column(c) => column_sql(c, variables),
        other => sql_text(other, variables),
    }
}

pub(super) fn parse_sql(function: &str, text: &str) -> Result<SqlExpr> {
    Parser::new(&GenericDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| plan_error(format!("{function}: internal: cannot read back `{text}`: {e}")))
}

/// The SQL inputs of a formula: keys (categorical factors), then values (the response and each
/// product of numeric factors).
pub(super) fn inputs(formula: &Formula, design: &Design, variables: &[String]) -> (Vec<String>, Vec<String>) {
    let keys = design.keys.iter().map(|&f| factor_sql(&formula.factors[f].expr, variables)).collect();
    let mut values = vec![factor_sql(&formula.response.expr, variables)];
    for product in &design.values {
        let parts: Vec<String> = product.iter().map(|&f| factor_sql(&formula.factors[f].expr, variables)).collect();
        values.push(if parts.len() == 1 {
            parts[0].clone()
        } else {
            parts.iter().map(|p| format!("CAST({p} AS DOUBLE)")).collect::<Vec<_>>().join(" * ")
        });
    }
    (keys, values)
}

/// The SQL rewrite of an `ols`/`wls` call: `ols('<spec>', keys…, values…[, weight])`; with HC2 or
/// HC3 errors `ols_leverage('<spec>', groups…, keys…, values…[, weight])`, with the `GROUP BY`
/// expressions `groups` of the call's `SELECT` first (its passes run per group).
pub(crate) fn rewrite(mut call: Call, groups: &[SqlExpr]) -> Result<Rewritten> {
    let kind = match call.name.as_str() {
        "wls" => LinearKind::Wls,
        "did" => LinearKind::Did,
        "iv" => LinearKind::Iv,
        _ => LinearKind::Ols,
    };
    let name = call.name.clone();
    let example = kind.example();
    let mut variables = Vec::new();
    let formula_text = if kind == LinearKind::Did {
        // did(y, treated, post, covariates…) is y ~ treated * post + covariates, written over the
        // column names v0, v1, … that stand for the argument expressions (see column_sql).
        let y = call.required(0, "the outcome", example)?;
        let treated = call.required(1, "the treated-group indicator", example)?;
        let post = call.required(2, "the post-period indicator", example)?;
        variables = vec![y.to_string(), treated.to_string(), post.to_string()];
        let mut i = 3;
        while let Ok(c) = call.required(i, "", example) {
            variables.push(c.to_string());
            i += 1;
        }
        let covariates: String = (3..variables.len()).map(|i| format!(" + v{i}")).collect();
        format!("v0 ~ v1 * v2{covariates}")
    } else {
        let f = call.required(0, "a formula such as 'y ~ x1 + x2'", example)?;
        string_option(&name, "formula", &f)?
    };
    let weights = match kind {
        LinearKind::Wls => Some(
            call.option(&["weights"], Some(1))?
                .ok_or_else(|| plan_error(format!("wls needs the weights as argument 2, e.g. {example}")))?,
        ),
        _ => call.option(&["weights"], None)?,
    };
    let cov = match call.option(&["cov", "cov_type"], None)? {
        Some(e) => string_option(&name, "cov", &e)?,
        None => "classical".into(),
    };
    let alpha = match call.option(&["alpha"], None)? {
        Some(e) => number_option(&name, "alpha", &e)?,
        None => 0.05,
    };
    let clusters = cluster_option(&mut call)?;
    call.finish(&OPTIONS)?;
    let leverage =
        parse_cov(&cov).is_ok_and(CovType::needs_leverage) && matches!(kind, LinearKind::Ols | LinearKind::Wls);
    let spec = LinearSpec {
        formula: formula_text,
        weights: weights.as_ref().map(|w| w.to_string()),
        cov,
        alpha,
        clusters: clusters.iter().map(|c| c.to_string()).collect(),
        variables,
        groups: if leverage { groups.iter().map(|g| g.to_string()).collect() } else { Vec::new() },
        leverage: None,
    };
    let function = LinearFunction::new(if leverage { LinearKind::Pass } else { kind }, spec.clone())?;
    let (keys, values) = inputs(&function.formula, &function.design, &spec.variables);
    let mut args = if leverage { groups.to_vec() } else { Vec::new() };
    for text in &keys {
        args.push(parse_sql(&name, text)?);
    }
    args.extend(clusters);
    for text in &values {
        args.push(parse_sql(&name, text)?);
    }
    args.extend(weights);
    Ok(Rewritten {
        spec: serde_json::to_string(&spec).expect("spec serialises"),
        args,
        name: leverage.then_some("ols_leverage"),
    })
}

impl LinearKind {
    fn example(self) -> &'static str {
        match self {
            LinearKind::Ols | LinearKind::Pass => "ols('y ~ x1 + x2', cov => 'HC1')",
            LinearKind::Wls => "wls('y ~ x1 + x2', weight)",
            LinearKind::Did => "did(y, treated, post, x1, cluster => user_id)",
            LinearKind::Iv => "iv('y ~ x1 + [t_ob ~ treatment]', cov => 'robust')",
        }
    }
}

impl SpecFunction for LinearKind {
    type Function = LinearFunction;
    fn name(&self) -> &'static str {
        match self {
            LinearKind::Ols => "ols",
            LinearKind::Wls => "wls",
            LinearKind::Did => "did",
            LinearKind::Iv => "iv",
            LinearKind::Pass => "ols_pass",
        }
    }
    fn return_type(&self) -> DataType {
        let fit = LinearFit { coefficients: vec![Coefficient::default()], ..LinearFit::default() };
        match self {
            LinearKind::Did => did_row(&fit, &Coefficient::default()).data_type(),
            LinearKind::Pass => DataType::Binary,
            LinearKind::Iv => {
                let iv = IvFit {
                    coefficients: vec![Coefficient::default()],
                    first_stage: vec![FirstStage::default()],
                    ..IvFit::default()
                };
                iv_row(&iv, "").expect("the default row builds").data_type()
            }
            _ => linear_row(&fit, "").expect("the default row builds").data_type(),
        }
    }
    fn build(&self, spec: &str) -> Result<LinearFunction> {
        LinearFunction::new(*self, read_spec(self.name(), spec)?)
    }
    fn example(&self) -> &'static str {
        LinearKind::example(*self)
    }
}

/// The finish step of one call.
#[derive(Debug)]
pub struct LinearFunction {
    kind: LinearKind,
    label: String,
    formula_text: String,
    formula: Formula,
    design: Design,
    keys: Vec<String>,
    columns: Vec<String>,
    weighted: bool,
    cov: CovType,
    alpha: f64,
    clusterings: usize,
    /// For `iv`: the 2SLS covariance type.
    iv_cov: Option<IvCov>,
}

impl LinearFunction {
    pub(crate) fn new(kind: LinearKind, spec: LinearSpec) -> Result<Self> {
        // The first pass of an HC2/HC3 fit speaks as the call the user wrote.
        let name = if kind == LinearKind::Pass { "ols" } else { kind.name() };
        let formula = Formula::parse(&spec.formula).map_err(|e| formula_error(name, &spec.formula, e))?;
        let design = formula.design();
        let iv_cov = if kind == LinearKind::Iv {
            if spec.weights.is_some() {
                return Err(plan_error(format!("{name}: weights are not supported for 2SLS")));
            }
            if formula.endogenous.is_empty() {
                return Err(formula_error(
                    name,
                    &spec.formula,
                    fastcausal_stats::StatsError::InvalidFormula {
                        position: spec.formula.len(),
                        message: "iv needs an instrumental-variables block, e.g. 'y ~ x1 + [d ~ z1 + z2]'".into(),
                    },
                ));
            }
            let cov = match (spec.cov.to_ascii_lowercase().as_str(), spec.clusters.is_empty()) {
                ("classical" | "unadjusted" | "nonrobust" | "homoskedastic", true) => IvCov::Unadjusted,
                ("robust" | "heteroskedastic" | "hc0", true) => IvCov::Robust,
                ("classical" | "clustered" | "cluster", false) => IvCov::Clustered,
                ("clustered" | "cluster", true) => {
                    return Err(plan_error(format!(
                        "{name}: cov => 'clustered' needs the clusters, e.g. cluster => user_id"
                    )));
                }
                (other, _) => {
                    return Err(plan_error(format!(
                        "{name}: cov: unknown or conflicting covariance type '{other}'; use 'unadjusted', 'robust', or cluster => column"
                    )));
                }
            };
            Some(cov)
        } else {
            if !formula.endogenous.is_empty() {
                return Err(plan_error(format!(
                    "{name}: the formula has an instrumental-variables block; fit it with iv('{}')",
                    spec.formula
                )));
            }
            None
        };
        let mut cov = if iv_cov.is_some() {
            CovType::Classical
        } else {
            parse_cov(&spec.cov).map_err(|m| plan_error(format!("{name}: cov: {m}")))?
        };
        match (cov, spec.clusters.is_empty() || iv_cov.is_some()) {
            (CovType::Classical, false) => cov = CovType::Cluster,
            (CovType::Cluster, false) => {}
            (CovType::Cluster, true) => {
                return Err(plan_error(format!(
                    "{name}: cov => 'cluster' needs the clusters, e.g. cluster => user_id or cluster => (firm, year)"
                )));
            }
            (other, false) => {
                return Err(plan_error(format!(
                    "{name}: cluster => gives cluster-robust errors; it cannot be combined with cov => '{}'",
                    other.name()
                )));
            }
            _ => {}
        }
        if cov.needs_leverage() && kind != LinearKind::Pass {
            return Err(plan_error(format!(
                "{name}: cov => '{}' is available for ols and wls (it takes a second pass over the data); use 'HC1' here",
                cov.name()
            )));
        }
        if !(spec.alpha > 0.0 && spec.alpha < 1.0) {
            return Err(plan_error(format!("{name}: alpha must be between 0 and 1, found {}", spec.alpha)));
        }
        // Names in messages: factor codes, or for a rewritten formula the expressions.
        let shown = |code: &str| -> String {
            code.strip_prefix('v')
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| spec.variables.get(i))
                .cloned()
                .unwrap_or_else(|| code.to_owned())
        };
        let (factor_keys, mut columns) = input_names(&formula, &design, shown);
        let mut keys = spec.groups.clone();
        keys.extend(factor_keys);
        keys.extend(spec.clusters.iter().cloned());
        if let Some(w) = &spec.weights {
            columns.push(w.clone());
        }
        Ok(LinearFunction {
            kind,
            label: format!(
                "{name}({}{}{})",
                if kind == LinearKind::Did { spec.variables.join(", ") } else { format!("'{}'", spec.formula) },
                spec.weights.as_ref().map(|w| format!(", weights => {w}")).unwrap_or_default(),
                match spec.clusters.as_slice() {
                    [] => String::new(),
                    [c] => format!(", cluster => {c}"),
                    cs => format!(", cluster => ({})", cs.join(", ")),
                }
            ),
            clusterings: spec.clusters.len(),
            iv_cov,
            formula_text: spec.formula,
            formula,
            design,
            keys,
            columns,
            weighted: spec.weights.is_some(),
            cov,
            alpha: spec.alpha,
        })
    }
}

pub(super) fn coefficient_row(c: &Coefficient) -> Row {
    Row::new()
        .text("term", &c.term)
        .opt_float("estimate", c.estimate)
        .opt_float("std_error", c.std_error)
        .opt_float("t_value", c.t_value)
        .opt_float("p_value", c.p_value)
        .opt_float("ci_lower", c.ci_lower)
        .opt_float("ci_upper", c.ci_upper)
}

/// The fields every model result starts with.
pub(super) fn model_head(
    formula: &str,
    coefficients: &[Coefficient],
    n: u64,
    df_model: f64,
    df_resid: f64,
) -> Result<Row> {
    let shape = coefficient_row(&Coefficient::default()).data_type();
    let rows = coefficients.iter().map(coefficient_row).collect();
    Ok(Row::new()
        .text("formula", formula)
        .value("coefficients", rows_type(&shape), rows_value(rows, &shape)?)
        .int("n", n)
        .float("df_model", df_model)
        .float("df_resid", df_resid))
}

fn linear_row(fit: &LinearFit, formula: &str) -> Result<Row> {
    Ok(model_head(formula, &fit.coefficients, fit.n, fit.df_model, fit.df_resid)?
        .float("r_squared", fit.r_squared)
        .float("adj_r_squared", fit.adj_r_squared)
        .opt_float("f_statistic", fit.f_statistic)
        .opt_float("f_p_value", fit.f_p_value)
        .float("residual_std_error", fit.residual_std_error)
        .float("log_likelihood", fit.log_likelihood)
        .float("aic", fit.aic)
        .float("bic", fit.bic)
        .text("cov_type", fit.cov_type)
        .texts("dropped", &fit.dropped)
        .floats("covariance", Some(&fit.covariance))
        .value("levels", levels_type(), levels_value(&fit.levels)?))
}

fn level_row(l: &FactorLevels) -> Row {
    Row::new().text("factor", &l.factor).texts("levels", &l.levels)
}

/// The type of a model result's `levels` field: one row per categorical factor.
pub(super) fn levels_type() -> DataType {
    rows_type(&level_row(&FactorLevels { factor: String::new(), levels: Vec::new() }).data_type())
}

/// A model result's `levels` field.
pub(super) fn levels_value(levels: &[FactorLevels]) -> Result<ScalarValue> {
    let shape = level_row(&FactorLevels { factor: String::new(), levels: Vec::new() }).data_type();
    rows_value(levels.iter().map(level_row).collect(), &shape)
}

fn iv_row(fit: &IvFit, formula: &str) -> Result<Row> {
    let stage = |s: &FirstStage| {
        Row::new()
            .text("endogenous", &s.endogenous)
            .float("partial_r_squared", s.partial_r_squared)
            .float("f_statistic", s.f_statistic)
            .float("f_p_value", s.f_p_value)
            .float("df_num", s.df_num)
            .float("df_denom", s.df_denom)
    };
    let stage_shape = stage(&FirstStage::default()).data_type();
    let stages = fit.first_stage.iter().map(stage).collect();
    Ok(model_head(formula, &fit.coefficients, fit.n, fit.df_model, fit.df_resid)?
        .float("r_squared", fit.r_squared)
        .opt_float("wald_statistic", fit.wald_statistic)
        .float("wald_df", fit.wald_df)
        .opt_float("wald_p_value", fit.wald_p_value)
        .text("cov_type", fit.cov_type)
        .value("first_stage", rows_type(&stage_shape), rows_value(stages, &stage_shape)?)
        .boolean("weak_instruments", fit.weak_instruments)
        .floats("covariance", Some(&fit.covariance)))
}

fn did_row(fit: &LinearFit, effect: &Coefficient) -> Row {
    Row::new()
        .opt_float("estimate", effect.estimate)
        .opt_float("std_error", effect.std_error)
        .opt_float("t_value", effect.t_value)
        .opt_float("p_value", effect.p_value)
        .opt_float("ci_lower", effect.ci_lower)
        .opt_float("ci_upper", effect.ci_upper)
        .int("n", fit.n)
        .float("df_resid", fit.df_resid)
        .float("r_squared", fit.r_squared)
        .text("cov_type", fit.cov_type)
}

impl StateFunction for LinearFunction {
    type State = DesignMoments;
    fn label(&self) -> &str {
        &self.label
    }
    fn key_names(&self) -> &[String] {
        &self.keys
    }
    fn column_names(&self) -> &[String] {
        &self.columns
    }
    fn non_numeric_hint(&self, column: &str) -> String {
        categorical_hint(column)
    }
    fn new_state(&self) -> DesignMoments {
        let fourth = self.iv_cov.map_or(self.cov.needs_fourth(), IvCov::needs_fourth);
        DesignMoments::with_sides(value_count(&self.design), self.weighted, fourth.then(|| fourth_sides(&self.design)))
    }
    fn data_type(&self) -> DataType {
        self.kind.return_type()
    }
    fn finish(&self, cells: &mut Keyed<DesignMoments>) -> Result<ScalarValue> {
        if self.kind == LinearKind::Pass {
            cells.seal();
            return Ok(ScalarValue::Binary(Some(cells.to_bytes())));
        }
        if cells.rows() == 0 {
            return null_of(&self.data_type());
        }
        if let Some(cov) = self.iv_cov {
            let fit = fit_formula_iv(&self.formula, &self.design, cells, cov, self.alpha, self.clusterings)
                .map_err(|e| stats_error(&self.label, e))?;
            return iv_row(&fit, &self.formula_text)?.into_scalar();
        }
        let fit = fit_formula(&self.formula, &self.design, cells, self.cov, self.alpha, self.clusterings)
            .map_err(|e| stats_error(&self.label, e))?;
        match self.kind {
            LinearKind::Did => {
                let effect = fit.coefficients.iter().find(|c| c.term == "v1:v2").cloned().unwrap_or_default();
                if effect.estimate.is_none() {
                    return Err(plan_error(format!(
                        "{}: treated × post is collinear with the other terms (does every combination of treated and post occur?)",
                        self.label
                    )));
                }
                did_row(&fit, &effect).into_scalar()
            }
            _ => linear_row(&fit, &self.formula_text)?.into_scalar(),
        }
    }
}

/// `ols_leverage`: an `ols`/`wls` call with HC2 or HC3 errors, whose first pass the engine has
/// run (see [`crate::multipass`]). Its own pass is the second: the moments again, with the
/// leverage-weighted meat (see [`fastcausal_stats::regression::leverage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeverageKind;

impl SpecFunction for LeverageKind {
    type Function = LeverageFunction;
    fn name(&self) -> &'static str {
        "ols_leverage"
    }
    fn return_type(&self) -> DataType {
        LinearKind::Ols.return_type()
    }
    fn build(&self, spec: &str) -> Result<LeverageFunction> {
        LeverageFunction::new(read_spec("ols", spec)?)
    }
    fn example(&self) -> &'static str {
        "ols('y ~ x1 + x2', cov => 'HC3')"
    }
}

/// The accumulators' side of an HC2/HC3 fit's second pass.
#[derive(Debug)]
pub struct LeverageFunction {
    linear: LinearFunction,
    power: u8,
    groups: usize,
    /// Each group's first-pass fit, by group key (absent until the engine has run the pass).
    parameters: Option<HashSet<Vec<KeyValue>>>,
    /// The residual and hat maps of each (group, levels) cell.
    maps: HashMap<Vec<KeyValue>, (Vec<f64>, Vec<f64>)>,
}

impl LeverageFunction {
    pub(crate) fn new(spec: LinearSpec) -> Result<Self> {
        let groups = spec.groups.len();
        let leverage = spec.leverage.clone();
        let linear = LinearFunction::new(LinearKind::Pass, LinearSpec { leverage: None, ..spec })?;
        let power = if linear.cov == CovType::HC2 { 1 } else { 2 };
        let mut maps = HashMap::new();
        let parameters = leverage.map(|groups| {
            groups
                .into_iter()
                .map(|g| {
                    for levels in combinations(&g.at.levels) {
                        if let Some(m) = cell_maps(&linear.formula, &linear.design, &g.at, &levels) {
                            maps.insert([g.group.clone(), levels].concat(), m);
                        }
                    }
                    g.group
                })
                .collect()
        });
        Ok(LeverageFunction { linear, power, groups, parameters, maps })
    }
}

/// The first pass of an HC2/HC3 fit, as the engine runs it: the call's spec with the pass's
/// function, and the parameters of each group from the pass's state.
pub(crate) fn leverage_groups(spec: &LinearSpec, state: Keyed<DesignMoments>) -> Result<Vec<LeverageGroup>> {
    let f = LinearFunction::new(LinearKind::Pass, spec.clone())?;
    split_groups(state, spec.groups.len())
        .into_iter()
        .map(|(group, cells)| {
            let at = leverage_parameters(&f.formula, &f.design, &cells).map_err(|e| stats_error(&f.label, e))?;
            Ok(LeverageGroup { group, at })
        })
        .collect()
}

impl StateFunction for LeverageFunction {
    type State = LeverageMoments;
    fn label(&self) -> &str {
        &self.linear.label
    }
    fn key_names(&self) -> &[String] {
        &self.linear.keys
    }
    fn column_names(&self) -> &[String] {
        &self.linear.columns
    }
    fn non_numeric_hint(&self, column: &str) -> String {
        self.linear.non_numeric_hint(column)
    }
    fn new_state(&self) -> LeverageMoments {
        let d = value_count(&self.linear.design) + 1;
        LeverageMoments::new(d - 1, self.linear.weighted, self.power, vec![0.0; d], vec![0.0; d * d])
    }
    fn new_keyed_state(&self, key: &[KeyRef<'_>]) -> LeverageMoments {
        let d = value_count(&self.linear.design) + 1;
        let cell: Vec<KeyValue> = key.iter().map(|k| k.to_value()).collect();
        // A cell the first pass did not see gets undefined maps, reported when finished.
        let (residual, hat) =
            self.maps.get(&cell).cloned().unwrap_or_else(|| (vec![f64::NAN; d], vec![f64::NAN; d * d]));
        LeverageMoments::new(d - 1, self.linear.weighted, self.power, residual, hat)
    }
    fn data_type(&self) -> DataType {
        LeverageKind.return_type()
    }
    fn finish(&self, cells: &mut Keyed<LeverageMoments>) -> Result<ScalarValue> {
        if cells.rows() == 0 {
            return null_of(&self.data_type());
        }
        let label = &self.linear.label;
        let Some(parameters) = &self.parameters else {
            return Err(plan_error(format!(
                "{label}: the first pass of the HC2/HC3 fit has not been run; run the query through fastcausal (its engine runs it before planning)"
            )));
        };
        let mut groups = split_groups(std::mem::take(cells), self.groups);
        let (group, group_cells) = match (groups.pop(), groups.is_empty()) {
            (Some(g), true) => g,
            _ => return Err(plan_error(format!("{label}: one SQL group holds several GROUP BY keys"))),
        };
        if !parameters.contains(&group) {
            return Err(plan_error(format!(
                "{label}: the data changed while the model was fitted (a new group appeared)"
            )));
        }
        let fit = fit_formula_leverage(
            &self.linear.formula,
            &self.linear.design,
            &group_cells,
            self.linear.cov,
            self.linear.alpha,
        )
        .map_err(|e| stats_error(label, e))?;
        linear_row(&fit, &self.linear.formula_text)?.into_scalar()
    }
}
