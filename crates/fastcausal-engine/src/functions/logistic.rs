//! Logistic regression in SQL: `logistic(formula [, cov => …] [, cluster => …] [, alpha => …]
//! [, auc => true])`, the exact maximum-likelihood fit (as statsmodels' `Logit`). The exact AUC
//! keeps every row's linear predictor in the last pass (8 bytes a row), so it is computed only
//! when asked for; everything else is a few kilobytes of state.
//!
//! ```sql
//! SELECT logistic('t_ob ~ x1 + x2 + x3') FROM test_data;
//! SELECT x_cat1, logistic('t_ob ~ x1 + x2', cov => 'HC0') FROM test_data GROUP BY x_cat1;
//! ```
//!
//! The fit takes several passes over the data — one per Newton step (see
//! [`fastcausal_stats::regression::logistic`]). The SQL rewrite turns the call into
//! `logistic('<spec>', groups…, factors…, clusters…, values…)`, with the `GROUP BY` expressions of
//! its `SELECT` as the leading keys, and with no coefficients yet. Before the statement is planned,
//! the engine ([`crate::multipass`]) runs the Newton loop: each pass is the aggregate
//! `logistic_pass('<spec at β>', …)` over the same `FROM` and `WHERE`, without `GROUP BY` (every
//! group's cells are keys of one state), whose value is the encoded state; from it the engine takes
//! each group's Newton step, until every group has converged. The coefficients then go into the
//! call's spec, and the statement runs as written: its pass, at the converged coefficients,
//! gives the fitted model of each group (errors, likelihoods, AUC).
//!
//! A state's linear predictor depends on its cell (group and categorical levels), so the states
//! are made by [`StateFunction::new_keyed_state`] from the spec's coefficients.

use std::collections::HashMap;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::AggregateUDF;
use datafusion::sql::sqlparser::ast::Expr as SqlExpr;
use fastcausal_stats::regression::logistic::{
    LogisticCov, LogisticFit, LogisticMoments, LogisticParameters, cell_theta, fit_formula_logistic,
};
use fastcausal_stats::regression::ols::value_count;
use fastcausal_stats::regression::{Coefficient, Design, Formula};
use fastcausal_stats::{KeyRef, KeyValue, Keyed, StateCodec};
use serde::{Deserialize, Serialize};

use super::regression::{
    categorical_hint, cluster_option, formula_error, input_names, inputs, levels_type, levels_value, model_head,
    parse_sql,
};
use super::row::{Row, null_of};
use super::spec::read_spec;
use super::state_accumulator::StateFunction;
use super::udaf::{SpecFunction, SpecUdaf};
use crate::error::stats_error;
use crate::metric_sql::{Call, Rewritten, bool_option, number_option, plan_error, string_option};

/// `logistic` (the fitted model) and `logistic_pass` (one Newton pass, run by the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogisticKind {
    Logistic,
    Pass,
}

/// The registered (unbound) functions.
pub fn udafs() -> Vec<AggregateUDF> {
    vec![SpecUdaf::udaf(LogisticKind::Logistic), SpecUdaf::udaf(LogisticKind::Pass)]
}

/// One group's coefficients, found by the engine's Newton loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupParameters {
    /// The values of the `GROUP BY` expressions (empty without `GROUP BY`).
    pub group: Vec<KeyValue>,
    #[serde(flatten)]
    pub at: LogisticParameters,
}

/// The options of one call, produced by the SQL rewrite; `parameters` are filled in by the
/// engine's Newton loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticSpec {
    pub formula: String,
    pub cov: String,
    pub alpha: f64,
    #[serde(default)]
    pub clusters: Vec<String>,
    /// The `GROUP BY` expressions as written, passed first among the keys.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub auc: bool,
    /// The coefficients of each group; absent until the passes have run.
    #[serde(default)]
    pub parameters: Option<Vec<GroupParameters>>,
}

const OPTIONS: [&str; 4] = ["cov", "cluster", "alpha", "auc"];
const EXAMPLE: &str = "logistic('t_ob ~ x1 + x2 + x3', cov => 'HC0')";

/// The SQL rewrite of a `logistic` call made in a `SELECT` grouped by `groups`.
pub(crate) fn rewrite(mut call: Call, groups: &[SqlExpr]) -> Result<Rewritten> {
    let name = call.name.clone();
    let f = call.required(0, "a formula such as 't_ob ~ x1 + x2'", EXAMPLE)?;
    let formula = string_option(&name, "formula", &f)?;
    let cov = match call.option(&["cov", "cov_type"], None)? {
        Some(e) => string_option(&name, "cov", &e)?,
        None => "classical".into(),
    };
    let alpha = match call.option(&["alpha"], None)? {
        Some(e) => number_option(&name, "alpha", &e)?,
        None => 0.05,
    };
    let auc = match call.option(&["auc"], None)? {
        Some(e) => bool_option(&name, "auc", &e)?,
        None => false,
    };
    let clusters = cluster_option(&mut call)?;
    call.finish(&OPTIONS)?;
    let spec = LogisticSpec {
        formula,
        cov,
        alpha,
        clusters: clusters.iter().map(|c| c.to_string()).collect(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        auc,
        parameters: None,
    };
    let function = LogisticFunction::new(LogisticKind::Logistic, spec.clone())?;
    let (keys, values) = inputs(&function.formula, &function.design, &[]);
    let mut args: Vec<SqlExpr> = groups.to_vec();
    for text in &keys {
        args.push(parse_sql(&name, text)?);
    }
    args.extend(clusters);
    for text in &values {
        args.push(parse_sql(&name, text)?);
    }
    Ok(Rewritten { spec: serde_json::to_string(&spec).expect("spec serialises"), args, name: None })
}

impl SpecFunction for LogisticKind {
    type Function = LogisticFunction;
    fn name(&self) -> &'static str {
        match self {
            LogisticKind::Logistic => "logistic",
            LogisticKind::Pass => "logistic_pass",
        }
    }
    fn return_type(&self) -> DataType {
        match self {
            LogisticKind::Logistic => {
                let fit = LogisticFit { coefficients: vec![Coefficient::default()], ..LogisticFit::default() };
                logistic_row(&fit, "").expect("the default row builds").data_type()
            }
            LogisticKind::Pass => DataType::Binary,
        }
    }
    fn build(&self, spec: &str) -> Result<LogisticFunction> {
        LogisticFunction::new(*self, read_spec(self.name(), spec)?)
    }
    fn example(&self) -> &'static str {
        EXAMPLE
    }
}

/// The accumulators' side of one call.
#[derive(Debug)]
pub struct LogisticFunction {
    kind: LogisticKind,
    label: String,
    formula_text: String,
    pub(crate) formula: Formula,
    pub(crate) design: Design,
    keys: Vec<String>,
    columns: Vec<String>,
    cov: LogisticCov,
    alpha: f64,
    auc: bool,
    groups: usize,
    clusterings: usize,
    /// Each group's coefficients, by group key.
    parameters: Option<HashMap<Vec<KeyValue>, LogisticParameters>>,
    /// The linear predictor of each (group, levels) cell.
    thetas: HashMap<Vec<KeyValue>, Vec<f64>>,
}

impl LogisticFunction {
    pub(crate) fn new(kind: LogisticKind, spec: LogisticSpec) -> Result<Self> {
        let name = "logistic";
        let formula = Formula::parse(&spec.formula).map_err(|e| formula_error(name, &spec.formula, e))?;
        if !formula.endogenous.is_empty() {
            return Err(plan_error(format!(
                "{name}: instrumental-variables blocks are for iv(); write the formula without [ … ~ … ]"
            )));
        }
        if formula.response.categorical {
            return Err(plan_error(format!(
                "{name}: the outcome must be a 0/1 number, not C(…); e.g. CASE WHEN g = 'yes' THEN 1 ELSE 0 END in a subquery"
            )));
        }
        let design = formula.design();
        let cov = match (spec.cov.to_ascii_lowercase().as_str(), spec.clusters.is_empty()) {
            ("classical" | "nonrobust", true) => LogisticCov::Classical,
            ("hc0" | "hc1" | "robust", true) => LogisticCov::Robust,
            ("classical" | "nonrobust" | "cluster", false) => LogisticCov::Cluster,
            ("cluster", true) => {
                return Err(plan_error(format!(
                    "{name}: cov => 'cluster' needs the clusters, e.g. cluster => user_id"
                )));
            }
            ("hc2" | "hc3", _) => {
                return Err(plan_error(format!(
                    "{name}: cov: '{}' is defined for least squares; use 'HC0' (or 'HC1', the same for maximum likelihood, as in statsmodels)",
                    spec.cov
                )));
            }
            (other, _) => {
                return Err(plan_error(format!(
                    "{name}: cov: unknown or conflicting covariance type '{other}'; use 'classical', 'HC0', 'HC1', or cluster => column"
                )));
            }
        };
        if !(spec.alpha > 0.0 && spec.alpha < 1.0) {
            return Err(plan_error(format!("{name}: alpha must be between 0 and 1, found {}", spec.alpha)));
        }
        let (factor_keys, columns) = input_names(&formula, &design, str::to_owned);
        let mut keys = spec.groups.clone();
        keys.extend(factor_keys);
        keys.extend(spec.clusters.iter().cloned());
        let mut thetas = HashMap::new();
        let parameters = spec.parameters.map(|groups| {
            let mut by_group = HashMap::new();
            for g in groups {
                for levels in combinations(&g.at.levels) {
                    if let Some(theta) = cell_theta(&formula, &design, &g.at, &levels) {
                        let mut key = g.group.clone();
                        key.extend(levels);
                        thetas.insert(key, theta);
                    }
                }
                by_group.insert(g.group, g.at);
            }
            by_group
        });
        Ok(LogisticFunction {
            kind,
            label: format!(
                "{name}('{}'{})",
                spec.formula,
                match spec.clusters.as_slice() {
                    [] => String::new(),
                    [c] => format!(", cluster => {c}"),
                    cs => format!(", cluster => ({})", cs.join(", ")),
                }
            ),
            formula_text: spec.formula,
            formula,
            design,
            keys,
            columns,
            cov,
            alpha: spec.alpha,
            auc: spec.auc,
            groups: spec.groups.len(),
            clusterings: spec.clusters.len(),
            parameters,
            thetas,
        })
    }

    /// Number of leading `GROUP BY` keys.
    pub(crate) fn group_keys(&self) -> usize {
        self.groups
    }

    /// Number of cluster keys (after the factors').
    pub(crate) fn clusterings(&self) -> usize {
        self.clusterings
    }
}

/// Every combination of one level per factor (one empty combination for no factors).
pub(crate) fn combinations(levels: &[Vec<KeyValue>]) -> Vec<Vec<KeyValue>> {
    let mut out = vec![Vec::new()];
    for l in levels {
        out = out
            .into_iter()
            .flat_map(|prefix| l.iter().map(move |v| [prefix.clone(), vec![v.clone()]].concat()))
            .collect();
    }
    out
}

/// Splits states keyed by (group…, rest…) into one container per group, keyed by the rest.
pub(crate) fn split_groups<S>(cells: Keyed<S>, groups: usize) -> Vec<(Vec<KeyValue>, Keyed<S>)> {
    let mut out: Vec<(Vec<KeyValue>, Vec<(Vec<KeyValue>, S)>)> = Vec::new();
    for (mut key, state) in cells.into_entries() {
        let rest = key.split_off(groups.min(key.len()));
        match out.last_mut() {
            Some((g, entries)) if *g == key => entries.push((rest, state)),
            _ => out.push((key, vec![(rest, state)])),
        }
    }
    out.into_iter().map(|(g, entries)| (g, Keyed::from_sorted(entries))).collect()
}

fn logistic_row(fit: &LogisticFit, formula: &str) -> Result<Row> {
    Ok(model_head(formula, &fit.coefficients, fit.n, fit.df_model, fit.df_resid)?
        .float("log_likelihood", fit.log_likelihood)
        .float("ll_null", fit.ll_null)
        .float("pseudo_r_squared", fit.pseudo_r_squared)
        .float("llr", fit.llr)
        .float("llr_p_value", fit.llr_p_value)
        .float("aic", fit.aic)
        .float("bic", fit.bic)
        .opt_float("auc", fit.auc)
        .text("cov_type", fit.cov_type)
        .boolean("converged", fit.converged)
        .int("iterations", fit.iterations as u64)
        .texts("dropped", &fit.dropped)
        .floats("covariance", Some(&fit.covariance))
        .value("levels", levels_type(), levels_value(&fit.levels)?))
}

impl StateFunction for LogisticFunction {
    type State = LogisticMoments;
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
    fn new_state(&self) -> LogisticMoments {
        let values = value_count(&self.design);
        LogisticMoments::new(
            values,
            vec![0.0; values],
            self.cov.needs_meat(),
            self.kind == LogisticKind::Logistic && self.auc,
        )
    }
    fn new_keyed_state(&self, key: &[KeyRef<'_>]) -> LogisticMoments {
        let mut state = self.new_state();
        if self.parameters.is_some() {
            let cell: Vec<KeyValue> = key[..key.len() - self.clusterings].iter().map(|k| k.to_value()).collect();
            let values = value_count(&self.design);
            // A cell no earlier pass saw gets an undefined predictor, reported when finished.
            let theta = self.thetas.get(&cell).cloned().unwrap_or_else(|| vec![f64::NAN; values]);
            state = LogisticMoments::new(
                values,
                theta,
                self.cov.needs_meat(),
                self.kind == LogisticKind::Logistic && self.auc,
            );
        }
        state
    }
    fn data_type(&self) -> DataType {
        self.kind.return_type()
    }
    fn finish(&self, cells: &mut Keyed<LogisticMoments>) -> Result<ScalarValue> {
        if self.kind == LogisticKind::Pass {
            cells.seal();
            return Ok(ScalarValue::Binary(Some(cells.to_bytes())));
        }
        if cells.rows() == 0 {
            return null_of(&self.data_type());
        }
        let Some(parameters) = &self.parameters else {
            return Err(plan_error(format!(
                "{}: the Newton passes have not been run; run the query through fastcausal (its engine fits the model before planning)",
                self.label
            )));
        };
        let mut groups = split_groups(std::mem::take(cells), self.groups);
        if groups.len() != 1 {
            return Err(plan_error(format!("{}: one SQL group holds several GROUP BY keys", self.label)));
        }
        let (group, group_cells) = groups.pop().expect("one group");
        let at = parameters.get(&group).ok_or_else(|| {
            plan_error(format!("{}: the data changed while the model was fitted (a new group appeared)", self.label))
        })?;
        let fit =
            fit_formula_logistic(&self.formula, &self.design, &group_cells, self.clusterings, at, self.cov, self.alpha)
                .map_err(|e| stats_error(&self.label, e))?;
        logistic_row(&fit, &self.formula_text)?.into_scalar()
    }
}
