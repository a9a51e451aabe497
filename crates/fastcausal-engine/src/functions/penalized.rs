//! Penalised regression in SQL: `ridge`, `lasso` and `elastic_net`, as scikit-learn's `Ridge`,
//! `Lasso`/`LassoCV` and `ElasticNet`/`ElasticNetCV`.
//!
//! ```sql
//! SELECT ridge('y ~ x1 + x2 + x3', lambda => 10) FROM t;
//! SELECT lasso('y ~ x1 + x2 + x3 + x4 + x5 + C(x_cat1)', standardize => true) FROM t;   -- λ by 5-fold CV
//! SELECT elastic_net('y ~ x1 + x2', lambda => 0.1, l1_ratio => 0.5) FROM t;
//! ```
//!
//! The call becomes an aggregate keyed by the formula's categorical factors over the response and
//! the numeric products, each cell keeping one [`FoldedMoments`] (one moment state per
//! cross-validation fold, rows assigned by a hash of their values); the fit, the path and the
//! validation all come from those moments (see [`fastcausal_stats::regression::penalized`]), in
//! one pass, per group with `GROUP BY`. Without `lambda`, the lasso and the elastic net choose it
//! by k-fold cross-validation over scikit-learn's path (`folds => 5`, `path_length => 100`).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::AggregateUDF;
use fastcausal_stats::Keyed;
use fastcausal_stats::regression::ols::value_count;
use fastcausal_stats::regression::penalized::{
    FoldedMoments, PathPoint, PenalizedFit, PenalizedSpec, Penalty, fit_formula_penalized,
};
use fastcausal_stats::regression::{Coefficient, Design, Formula};
use serde::{Deserialize, Serialize};

use super::regression::{categorical_hint, coefficient_row, formula_error, input_names, inputs, parse_sql};
use super::row::{Row, null_of, rows_type, rows_value};
use super::spec::read_spec;
use super::state_accumulator::StateFunction;
use super::udaf::{SpecFunction, SpecUdaf};
use crate::error::stats_error;
use crate::metric_sql::{Call, Rewritten, bool_option, number_option, plan_error, string_option};

/// The penalised-regression functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PenalizedKind {
    Ridge,
    Lasso,
    ElasticNet,
}

/// The registered (unbound) functions.
pub fn udafs() -> Vec<AggregateUDF> {
    vec![
        SpecUdaf::udaf(PenalizedKind::Ridge),
        SpecUdaf::udaf(PenalizedKind::Lasso),
        SpecUdaf::udaf(PenalizedKind::ElasticNet),
    ]
}

/// The options of one call, produced by the SQL rewrite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PenalizedOptions {
    pub formula: String,
    pub lambda: Option<f64>,
    pub l1_ratio: f64,
    pub folds: usize,
    pub standardize: bool,
    pub path_length: usize,
}

impl PenalizedKind {
    fn example(self) -> &'static str {
        match self {
            PenalizedKind::Ridge => "ridge('y ~ x1 + x2', lambda => 1.0)",
            PenalizedKind::Lasso => "lasso('y ~ x1 + x2 + x3', lambda => 0.1)",
            PenalizedKind::ElasticNet => "elastic_net('y ~ x1 + x2 + x3', lambda => 0.1, l1_ratio => 0.5)",
        }
    }
}

/// The SQL rewrite: `lasso('<spec>', keys…, values…)`.
pub(crate) fn rewrite(mut call: Call) -> Result<Rewritten> {
    let kind = match call.name.as_str() {
        "ridge" => PenalizedKind::Ridge,
        "lasso" => PenalizedKind::Lasso,
        _ => PenalizedKind::ElasticNet,
    };
    let name = call.name.clone();
    let f = call.required(0, "a formula such as 'y ~ x1 + x2'", kind.example())?;
    let formula = string_option(&name, "formula", &f)?;
    let lambda = call.option(&["lambda", "alpha"], Some(1))?.map(|e| number_option(&name, "lambda", &e)).transpose()?;
    let l1_ratio = match (kind, call.option(&["l1_ratio"], None)?) {
        (PenalizedKind::ElasticNet, Some(e)) => number_option(&name, "l1_ratio", &e)?,
        (PenalizedKind::ElasticNet, None) => 0.5,
        (_, Some(_)) => return Err(plan_error(format!("{name}: l1_ratio is an option of elastic_net"))),
        (PenalizedKind::Lasso, None) => 1.0,
        (PenalizedKind::Ridge, None) => 0.0,
    };
    let folds = match call.option(&["folds", "cv"], None)? {
        Some(e) => number_option(&name, "folds", &e)?,
        None => 5.0,
    };
    let path_length = match call.option(&["path_length", "n_alphas"], None)? {
        Some(e) => number_option(&name, "path_length", &e)?,
        None => 100.0,
    };
    let standardize = match call.option(&["standardize"], None)? {
        Some(e) => bool_option(&name, "standardize", &e)?,
        None => false,
    };
    call.finish(&["lambda", "l1_ratio", "folds", "path_length", "standardize"])?;
    for (what, v, lo, hi) in [("folds", folds, 2.0, 100.0), ("path_length", path_length, 2.0, 10_000.0)] {
        if !(v >= lo && v <= hi && v.fract() == 0.0) {
            return Err(plan_error(format!("{name}: {what} must be a whole number from {lo} to {hi}, found {v}")));
        }
    }
    let spec = PenalizedOptions {
        formula,
        lambda,
        l1_ratio,
        folds: folds as usize,
        standardize,
        path_length: path_length as usize,
    };
    let function = PenalizedFunction::new(kind, spec.clone())?;
    let (keys, values) = inputs(&function.formula, &function.design, &[]);
    let mut args = Vec::new();
    for text in keys.iter().chain(&values) {
        args.push(parse_sql(&name, text)?);
    }
    Ok(Rewritten { spec: serde_json::to_string(&spec).expect("spec serialises"), args, name: None })
}

impl SpecFunction for PenalizedKind {
    type Function = PenalizedFunction;
    fn name(&self) -> &'static str {
        match self {
            PenalizedKind::Ridge => "ridge",
            PenalizedKind::Lasso => "lasso",
            PenalizedKind::ElasticNet => "elastic_net",
        }
    }
    fn return_type(&self) -> DataType {
        let fit = PenalizedFit {
            coefficients: vec![Coefficient::default()],
            path: vec![PathPoint::default()],
            ..PenalizedFit::default()
        };
        penalized_row(&fit, "", false).expect("the default row builds").data_type()
    }
    fn build(&self, spec: &str) -> Result<PenalizedFunction> {
        PenalizedFunction::new(*self, read_spec(self.name(), spec)?)
    }
    fn example(&self) -> &'static str {
        PenalizedKind::example(*self)
    }
}

/// The accumulators' side of one call.
#[derive(Debug)]
pub struct PenalizedFunction {
    kind: PenalizedKind,
    label: String,
    formula_text: String,
    formula: Formula,
    design: Design,
    keys: Vec<String>,
    columns: Vec<String>,
    spec: PenalizedSpec,
    folds: usize,
}

impl PenalizedFunction {
    fn new(kind: PenalizedKind, options: PenalizedOptions) -> Result<Self> {
        let name = kind.name();
        let formula = Formula::parse(&options.formula).map_err(|e| formula_error(name, &options.formula, e))?;
        if !formula.endogenous.is_empty() {
            return Err(plan_error(format!("{name}: instrumental-variables blocks are for iv()")));
        }
        if !(0.0..=1.0).contains(&options.l1_ratio) {
            return Err(plan_error(format!("{name}: l1_ratio must be between 0 and 1, found {}", options.l1_ratio)));
        }
        if let Some(l) = options.lambda
            && !(l >= 0.0 && l.is_finite())
        {
            return Err(plan_error(format!("{name}: lambda must be 0 or more, found {l}")));
        }
        let penalty = match kind {
            PenalizedKind::Ridge => Penalty::Ridge,
            _ => Penalty::ElasticNet { l1_ratio: options.l1_ratio },
        };
        if options.lambda.is_none() && (kind == PenalizedKind::Ridge || options.l1_ratio == 0.0) {
            return Err(plan_error(format!(
                "{name}: give lambda => …; choosing it by cross-validation is available for the lasso and the elastic net with l1_ratio > 0"
            )));
        }
        let design = formula.design();
        let (keys, columns) = input_names(&formula, &design, str::to_owned);
        Ok(PenalizedFunction {
            kind,
            label: format!("{name}('{}')", options.formula),
            formula_text: options.formula,
            formula,
            design,
            keys,
            columns,
            folds: if options.lambda.is_some() { 1 } else { options.folds },
            spec: PenalizedSpec {
                penalty,
                lambda: options.lambda,
                standardize: options.standardize,
                path_length: options.path_length,
                path_ratio: 1e-3,
            },
        })
    }
}

fn penalized_row(fit: &PenalizedFit, formula: &str, standardized: bool) -> Result<Row> {
    let shape = coefficient_row(&Coefficient::default()).data_type();
    let rows = fit.coefficients.iter().map(coefficient_row).collect();
    let point = |p: &PathPoint| {
        Row::new()
            .float("lambda", p.lambda)
            .float("mean_squared_error", p.mean_squared_error)
            .float("std_error", p.std_error)
            .int("nonzero", p.nonzero as u64)
    };
    let path_shape = point(&PathPoint::default()).data_type();
    Ok(Row::new()
        .text("formula", formula)
        .value("coefficients", rows_type(&shape), rows_value(rows, &shape)?)
        .int("n", fit.n)
        .float("lambda", fit.lambda)
        .float("l1_ratio", fit.l1_ratio)
        .boolean("standardized", standardized)
        .float("objective", fit.objective)
        .float("r_squared", fit.r_squared)
        .int("nonzero", fit.nonzero as u64)
        .int("folds", fit.folds as u64)
        .opt_float("lambda_min", fit.lambda_min)
        .opt_float("lambda_1se", fit.lambda_1se)
        .value("path", rows_type(&path_shape), rows_value(fit.path.iter().map(point).collect(), &path_shape)?))
}

impl StateFunction for PenalizedFunction {
    type State = FoldedMoments;
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
    fn new_state(&self) -> FoldedMoments {
        FoldedMoments::new(value_count(&self.design), self.folds)
    }
    fn data_type(&self) -> DataType {
        self.kind.return_type()
    }
    fn finish(&self, cells: &mut Keyed<FoldedMoments>) -> Result<ScalarValue> {
        if cells.rows() == 0 {
            return null_of(&self.data_type());
        }
        let fit = fit_formula_penalized(&self.formula, &self.design, cells, &self.spec)
            .map_err(|e| stats_error(&self.label, e))?;
        penalized_row(&fit, &self.formula_text, self.spec.standardize)?.into_scalar()
    }
}
