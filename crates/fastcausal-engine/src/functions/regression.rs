//! Linear regression in SQL: `ols` and `wls`.
//!
//! ```sql
//! SELECT ols('y ~ x1 + x2 + t_ob') FROM test_data;
//! SELECT ols('y ~ treatment + x1 + C(x_cat1)', cov => 'HC1') FROM test_data;
//! SELECT x_cat1, wls('y ~ x1 + np.log(x3)', weight) FROM test_data GROUP BY x_cat1;
//! SELECT unnest(r.coefficients) FROM (SELECT ols('y ~ x1 * x2') AS r FROM test_data);
//! ```
//!
//! The formula (see [`fastcausal_stats::regression::formula`]) is parsed when the query is
//! planned; the call becomes an aggregate over the categorical factors (as keys) and the numeric
//! products the design needs (as values), keeping one [`DesignMoments`] state per combination of
//! levels — second moments, and fourth moments for robust errors — so every model is fitted in
//! one pass, per group with `GROUP BY`. Rows with a NULL in any used column are skipped.
//!
//! Options: `weights => column` (the second argument of `wls`), `cov => 'classical' | 'HC0' |
//! 'HC1'` (statsmodels' `nonrobust` is accepted for classical) and `alpha => 0.05`. The result
//! fields are documented in `docs/sql.md`: the coefficient rows (`term, estimate, std_error,
//! t_value, p_value, ci_lower, ci_upper`; all NULL for a term dropped as collinear) and the model
//! statistics as statsmodels reports them.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::AggregateUDF;
use datafusion::sql::sqlparser::ast::Expr as SqlExpr;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use fastcausal_stats::Keyed;
use fastcausal_stats::regression::formula::{Expr, Function, Operator};
use fastcausal_stats::regression::ols::{fit_formula, value_count};
use fastcausal_stats::regression::{Coefficient, CovType, Design, DesignMoments, Formula, LinearFit};
use serde::{Deserialize, Serialize};

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
}

/// The registered (unbound) functions.
pub fn udafs() -> Vec<AggregateUDF> {
    vec![SpecUdaf::udaf(LinearKind::Ols), SpecUdaf::udaf(LinearKind::Wls)]
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
}

const OPTIONS: [&str; 3] = ["weights", "cov", "alpha"];

fn parse_cov(name: &str) -> std::result::Result<CovType, String> {
    match name.to_ascii_lowercase().as_str() {
        "classical" | "nonrobust" => Ok(CovType::Classical),
        "hc0" => Ok(CovType::HC0),
        "hc1" => Ok(CovType::HC1),
        "hc2" | "hc3" => Err(format!(
            "'{name}' needs each row's leverage, which takes a second pass over the data and is not available yet; use 'HC0' or 'HC1'"
        )),
        other => Err(format!("unknown covariance type '{other}'; use 'classical', 'HC0' or 'HC1'")),
    }
}

/// A formula error with the formula shown and the position marked.
fn formula_error(
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

/// SQL text of a numeric expression, columns read as DOUBLE (so `/` is true division).
fn sql_text(e: &Expr) -> String {
    match e {
        Expr::Column(c) => format!("CAST(\"{}\" AS DOUBLE)", c.replace('"', "\"\"")),
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
fn factor_sql(e: &Expr) -> String {
    match e {
        Expr::Column(c) => format!("\"{}\"", c.replace('"', "\"\"")),
        other => sql_text(other),
    }
}

fn parse_sql(function: &str, text: &str) -> Result<SqlExpr> {
    Parser::new(&GenericDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| plan_error(format!("{function}: internal: cannot read back `{text}`: {e}")))
}

/// The SQL inputs of a formula: keys (categorical factors), then values (the response and each
/// product of numeric factors).
fn inputs(formula: &Formula, design: &Design) -> (Vec<String>, Vec<String>) {
    let keys = design.keys.iter().map(|&f| factor_sql(&formula.factors[f].expr)).collect();
    let mut values = vec![factor_sql(&formula.response.expr)];
    for product in &design.values {
        let parts: Vec<String> = product.iter().map(|&f| factor_sql(&formula.factors[f].expr)).collect();
        values.push(if parts.len() == 1 {
            parts[0].clone()
        } else {
            parts.iter().map(|p| format!("CAST({p} AS DOUBLE)")).collect::<Vec<_>>().join(" * ")
        });
    }
    (keys, values)
}

/// The SQL rewrite of an `ols`/`wls` call: `ols('<spec>', keys…, values…[, weight])`.
pub(crate) fn rewrite(mut call: Call) -> Result<Rewritten> {
    let kind = if call.name == "wls" { LinearKind::Wls } else { LinearKind::Ols };
    let name = call.name.clone();
    let example = kind.example();
    let f = call.required(0, "a formula such as 'y ~ x1 + x2'", example)?;
    let formula_text = string_option(&name, "formula", &f)?;
    let weights = match kind {
        LinearKind::Wls => Some(
            call.option(&["weights"], Some(1))?
                .ok_or_else(|| plan_error(format!("wls needs the weights as argument 2, e.g. {example}")))?,
        ),
        LinearKind::Ols => call.option(&["weights"], None)?,
    };
    let cov = match call.option(&["cov", "cov_type"], None)? {
        Some(e) => string_option(&name, "cov", &e)?,
        None => "classical".into(),
    };
    let alpha = match call.option(&["alpha"], None)? {
        Some(e) => number_option(&name, "alpha", &e)?,
        None => 0.05,
    };
    if call.option(&["cluster", "groups"], None)?.is_some() {
        return Err(plan_error(format!("{name}: cluster-robust errors (cluster =>) are not available yet")));
    }
    call.finish(&OPTIONS)?;
    let spec = LinearSpec { formula: formula_text, weights: weights.as_ref().map(|w| w.to_string()), cov, alpha };
    let function = LinearFunction::new(kind, spec.clone())?;
    let (keys, values) = inputs(&function.formula, &function.design);
    let mut args = Vec::new();
    for text in keys.iter().chain(&values) {
        args.push(parse_sql(&name, text)?);
    }
    args.extend(weights);
    Ok(Rewritten { spec: serde_json::to_string(&spec).expect("spec serialises"), args })
}

impl LinearKind {
    fn example(self) -> &'static str {
        match self {
            LinearKind::Ols => "ols('y ~ x1 + x2', cov => 'HC1')",
            LinearKind::Wls => "wls('y ~ x1 + x2', weight)",
        }
    }
}

impl SpecFunction for LinearKind {
    type Function = LinearFunction;
    fn name(&self) -> &'static str {
        match self {
            LinearKind::Ols => "ols",
            LinearKind::Wls => "wls",
        }
    }
    fn return_type(&self) -> DataType {
        let fit = LinearFit { coefficients: vec![Coefficient::default()], ..LinearFit::default() };
        linear_row(&fit, "").expect("the default row builds").data_type()
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
}

impl LinearFunction {
    fn new(kind: LinearKind, spec: LinearSpec) -> Result<Self> {
        let name = kind.name();
        let formula = Formula::parse(&spec.formula).map_err(|e| formula_error(name, &spec.formula, e))?;
        let design = formula.design();
        let cov = parse_cov(&spec.cov).map_err(|m| plan_error(format!("{name}: cov: {m}")))?;
        if !(spec.alpha > 0.0 && spec.alpha < 1.0) {
            return Err(plan_error(format!("{name}: alpha must be between 0 and 1, found {}", spec.alpha)));
        }
        let keys = design.keys.iter().map(|&f| formula.factors[f].code.clone()).collect();
        let mut columns = vec![formula.response.code.clone()];
        columns.extend(
            design
                .values
                .iter()
                .map(|p| p.iter().map(|&f| formula.factors[f].code.clone()).collect::<Vec<_>>().join(":")),
        );
        if let Some(w) = &spec.weights {
            columns.push(w.clone());
        }
        Ok(LinearFunction {
            kind,
            label: match &spec.weights {
                Some(w) => format!("{name}('{}', weights => {w})", spec.formula),
                None => format!("{name}('{}')", spec.formula),
            },
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

fn coefficient_row(c: &Coefficient) -> Row {
    Row::new()
        .text("term", &c.term)
        .opt_float("estimate", c.estimate)
        .opt_float("std_error", c.std_error)
        .opt_float("t_value", c.t_value)
        .opt_float("p_value", c.p_value)
        .opt_float("ci_lower", c.ci_lower)
        .opt_float("ci_upper", c.ci_upper)
}

fn linear_row(fit: &LinearFit, formula: &str) -> Result<Row> {
    let shape = coefficient_row(&Coefficient::default()).data_type();
    let rows = fit.coefficients.iter().map(coefficient_row).collect();
    Ok(Row::new()
        .text("formula", formula)
        .value("coefficients", rows_type(&shape), rows_value(rows, &shape)?)
        .int("n", fit.n)
        .float("df_model", fit.df_model)
        .float("df_resid", fit.df_resid)
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
        .floats("covariance", Some(&fit.covariance)))
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
        format!("write C({column}) in the formula to use it as a categorical factor")
    }
    fn new_state(&self) -> DesignMoments {
        DesignMoments::new(value_count(&self.design), self.weighted, self.cov.needs_fourth())
    }
    fn data_type(&self) -> DataType {
        self.kind.return_type()
    }
    fn finish(&self, cells: &mut Keyed<DesignMoments>) -> Result<ScalarValue> {
        if cells.rows() == 0 {
            return null_of(&self.data_type());
        }
        let fit = fit_formula(&self.formula, &self.design, cells, self.cov, self.alpha)
            .map_err(|e| stats_error(&self.label, e))?;
        linear_row(&fit, &self.formula_text)?.into_scalar()
    }
}
