//! Metric expressions in SQL: the rewrite that lets users write
//! `deltamethod(avg(numerator) / avg(denominator))`.
//!
//! SQL does not allow an aggregate inside an aggregate, so calls of fastcausal's metric
//! functions are rewritten in the parsed statement, before planning. The metric argument is
//! turned into a [`MetricExpr`] over placeholders (`$1 / $2`) and the list of distinct column
//! expressions found inside `avg(...)`; named options (`std => false`) are read; and the call
//! becomes `deltamethod('<json spec>', numerator, denominator)`, which DataFusion plans like any
//! aggregate (so `GROUP BY`, `FILTER`, subqueries and joins work unchanged). A projection item
//! that is such a call keeps the text the user wrote as its column name.
//!
//! A metric is built from `avg(<expr>)` terms (`mean` is accepted as a synonym), numbers,
//! `+ - * /` and parentheses. Anything else is an error that shows where it is.

use std::ops::ControlFlow;

use datafusion::common::{DataFusionError, Result};
use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident,
    ObjectNamePart, Select, SelectItem, Spanned, UnaryOperator, Value, VisitMut, VisitorMut,
};
use fastcausal_stats::MetricExpr;

use crate::functions::predict::ModelLoader;
use crate::functions::{deltamethod, logistic, mean_tests, penalized, predict, rank_tests, regression, srm};

/// Names of the functions whose calls are rewritten (see the [module documentation](self)).
pub const METRIC_FUNCTIONS: &[&str] = &[
    "deltamethod",
    "ttest_2samp",
    "ttest_1samp",
    "ttests_2samp",
    "student_ttest",
    "welch_ttest",
    "mean_z_test",
    "mde",
    "sample_size",
    "srm",
    "mann_whitney_utest",
    "ks_2samp",
    "ols",
    "wls",
    "did",
    "iv",
    "logistic",
    "predict",
    "ridge",
    "lasso",
    "elastic_net",
];

/// Rewrites every metric-function call in `statement` in place (without a warehouse, so
/// `predict` is an error).
pub fn rewrite_statement(statement: &mut DFStatement) -> Result<()> {
    rewrite_statement_with(statement, None)
}

/// Rewrites every metric-function call in `statement` in place; `predict('name')` reads stored
/// models through `models`.
pub fn rewrite_statement_with(statement: &mut DFStatement, models: Option<ModelLoader<'_>>) -> Result<()> {
    let mut v = MetricRewriter { groups: Vec::new(), models };
    let flow = match statement {
        DFStatement::Statement(s) => s.visit(&mut v),
        DFStatement::Explain(e) => return rewrite_statement_with(&mut e.statement, models),
        DFStatement::CopyTo(c) => match &mut c.source {
            CopyToSource::Query(q) => q.visit(&mut v),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        _ => ControlFlow::Continue(()),
    };
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn function_name(f: &Function) -> Option<String> {
    match f.name.0.as_slice() {
        [ObjectNamePart::Identifier(id)] => Some(id.value.to_lowercase()),
        _ => None,
    }
}

fn is_metric_call(e: &Expr) -> bool {
    matches!(e, Expr::Function(f) if function_name(f).is_some_and(|n| METRIC_FUNCTIONS.contains(&n.as_str())))
}

/// The rewrite, with the `GROUP BY` expressions of each enclosing `SELECT` (innermost last) for
/// the functions that take them as keys (see [`group_keys`]).
struct MetricRewriter<'a> {
    groups: Vec<std::result::Result<Vec<Expr>, String>>,
    models: Option<ModelLoader<'a>>,
}

/// The `GROUP BY` expressions of `select`, with positions (`GROUP BY 1`) and aliases of the
/// select list replaced by the expressions they name; an error for grouping sets, `ROLLUP`,
/// `CUBE` and `GROUP BY ALL`.
pub(crate) fn group_keys(select: &Select) -> std::result::Result<Vec<Expr>, String> {
    let exprs = match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs,
        other => return Err(format!("`{other}` is not supported here; list the GROUP BY expressions")),
    };
    let item = |i: usize| -> Option<Expr> {
        match select.projection.get(i)? {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e.clone()),
            _ => None,
        }
    };
    exprs
        .iter()
        .map(|e| match e {
            Expr::Rollup(_) | Expr::Cube(_) | Expr::GroupingSets(_) => {
                Err(format!("`GROUP BY {e}` is not supported here; list the GROUP BY expressions"))
            }
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => n
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .and_then(item)
                    .ok_or_else(|| format!("GROUP BY {n} names no item of the select list")),
                _ => Ok(e.clone()),
            },
            Expr::Identifier(id) => Ok(select
                .projection
                .iter()
                .find_map(|p| match p {
                    SelectItem::ExprWithAlias { expr, alias } if alias.value == id.value => Some(expr.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| e.clone())),
            _ => Ok(e.clone()),
        })
        .collect()
}

impl VisitorMut for MetricRewriter<'_> {
    type Break = DataFusionError;

    fn post_visit_select(&mut self, _select: &mut Select) -> ControlFlow<DataFusionError> {
        self.groups.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<DataFusionError> {
        self.groups.push(group_keys(select));
        for item in &mut select.projection {
            if let SelectItem::UnnamedExpr(e) = item
                && is_metric_call(e)
            {
                let alias = Ident::with_quote('"', e.to_string());
                *item = SelectItem::ExprWithAlias { expr: e.clone(), alias };
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<DataFusionError> {
        if let Expr::Function(f) = expr
            && let Some(name) = function_name(f)
            && METRIC_FUNCTIONS.contains(&name.as_str())
            && let Err(e) = rewrite_call(&name, f, self.groups.last(), self.models)
        {
            return ControlFlow::Break(e);
        }
        ControlFlow::Continue(())
    }
}

/// Where an expression starts, as "line L, column C".
pub(crate) fn at(e: &impl Spanned) -> String {
    let s = e.span().start;
    if s.line == 0 { String::new() } else { format!(" at line {}, column {}", s.line, s.column) }
}

pub(crate) fn plan_error(msg: String) -> DataFusionError {
    DataFusionError::Plan(msg)
}

/// Positional and named arguments of a call.
struct CallArgs {
    positional: Vec<Expr>,
    named: Vec<(String, Expr)>,
}

fn call_args(name: &str, f: &Function) -> Result<CallArgs> {
    let list = match &f.args {
        FunctionArguments::List(list) => list,
        _ => return Err(plan_error(format!("{name} needs arguments, e.g. {name}(avg(numerator) / avg(denominator))"))),
    };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return Err(plan_error(format!("{name}: DISTINCT and ORDER BY are not supported in its arguments")));
    }
    let mut out = CallArgs { positional: Vec::new(), named: Vec::new() };
    for a in &list.args {
        match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => {
                if !out.named.is_empty() {
                    return Err(plan_error(format!("{name}: positional argument{} after a named one", at(e))));
                }
                out.positional.push(e.clone());
            }
            FunctionArg::Named { name: n, arg: FunctionArgExpr::Expr(e), .. } => {
                out.named.push((n.value.to_lowercase(), e.clone()))
            }
            FunctionArg::ExprNamed { name: Expr::Identifier(n), arg: FunctionArgExpr::Expr(e), .. } => {
                out.named.push((n.value.to_lowercase(), e.clone()))
            }
            other => return Err(plan_error(format!("{name}: unsupported argument `{other}`"))),
        }
    }
    Ok(out)
}

/// A rewritten call: the JSON spec and the argument expressions that follow it.
pub(crate) struct Rewritten {
    pub spec: String,
    pub args: Vec<Expr>,
    /// The function to call instead, when the rewrite picks another (`ols` with HC2/HC3 errors
    /// becomes `ols_leverage`).
    pub name: Option<&'static str>,
}

fn rewrite_call(
    name: &str,
    f: &mut Function,
    groups: Option<&std::result::Result<Vec<Expr>, String>>,
    models: Option<ModelLoader<'_>>,
) -> Result<()> {
    let call = Call::new(name, call_args(name, f)?);
    let rewritten = match name {
        "predict" => predict::rewrite(call, models)?,
        "ridge" | "lasso" | "elastic_net" => penalized::rewrite(call)?,
        "logistic" => match groups {
            Some(Ok(groups)) => logistic::rewrite(call, groups)?,
            Some(Err(e)) => return Err(plan_error(format!("{name}: {e}"))),
            None => return Err(plan_error(format!("{name} must be called in the select list of a SELECT"))),
        },
        "deltamethod" => deltamethod::rewrite(call)?,
        "srm" => srm::rewrite(call)?,
        "mann_whitney_utest" | "ks_2samp" => rank_tests::rewrite(call)?,
        "ols" | "wls" | "did" | "iv" => match groups {
            Some(Ok(groups)) => regression::rewrite(call, groups)?,
            _ => regression::rewrite(call, &[])?,
        },
        _ => mean_tests::rewrite(call)?,
    };
    let mut new_args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(
        Value::SingleQuotedString(rewritten.spec).with_empty_span(),
    )))];
    new_args.extend(rewritten.args.into_iter().map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e))));
    if let FunctionArguments::List(list) = &mut f.args {
        list.args = new_args;
    }
    if let Some(name) = rewritten.name {
        f.name = datafusion::sql::sqlparser::ast::ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]);
    }
    Ok(())
}

/// The arguments of one call, consumed option by option by a function's rewrite; what is left
/// at the end is an error.
pub(crate) struct Call {
    pub name: String,
    positional: Vec<Option<Expr>>,
    named: Vec<(String, Expr)>,
}

impl Call {
    fn new(name: &str, args: CallArgs) -> Call {
        Call { name: name.to_owned(), positional: args.positional.into_iter().map(Some).collect(), named: args.named }
    }

    /// The required positional argument `i` (0-based), described as `what` in the error.
    pub fn required(&mut self, i: usize, what: &str, example: &str) -> Result<Expr> {
        match self.positional.get_mut(i).and_then(Option::take) {
            Some(e) => Ok(e),
            None => Err(plan_error(format!("{} needs {what} as argument {}, e.g. {example}", self.name, i + 1))),
        }
    }

    /// An option given by name (any of `names`), or else as positional argument `position`.
    pub fn option(&mut self, names: &[&str], position: Option<usize>) -> Result<Option<Expr>> {
        let mut found = None;
        let mut i = 0;
        while i < self.named.len() {
            if names.contains(&self.named[i].0.as_str()) {
                let (n, e) = self.named.remove(i);
                if found.is_some() {
                    return Err(plan_error(format!("{}: option {n} is given twice{}", self.name, at(&e))));
                }
                found = Some(e);
            } else {
                i += 1;
            }
        }
        if let Some(p) = position
            && let Some(e) = self.positional.get_mut(p).and_then(Option::take)
        {
            if found.is_some() {
                return Err(plan_error(format!(
                    "{}: {} is given both by position and by name{}",
                    self.name,
                    names[0],
                    at(&e)
                )));
            }
            found = Some(e);
        }
        Ok(found)
    }

    /// Fails on any argument no rewrite step consumed; `allowed` lists the options for the message.
    pub fn finish(self, allowed: &[&str]) -> Result<()> {
        if let Some((n, e)) = self.named.first() {
            return Err(plan_error(format!(
                "{}: unknown option `{n}`{}; the options are {}",
                self.name,
                at(e),
                allowed.iter().map(|o| format!("{o} =>")).collect::<Vec<_>>().join(", ")
            )));
        }
        if let Some(e) = self.positional.iter().flatten().next() {
            return Err(plan_error(format!(
                "{}: unexpected argument `{e}`{}; pass options by name ({})",
                self.name,
                at(e),
                allowed.iter().map(|o| format!("{o} =>")).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(())
    }
}

fn option_error(function: &str, option: &str, wanted: &str, e: &Expr) -> DataFusionError {
    plan_error(format!("{function}: option {option} must be {wanted}, found `{e}`{}", at(e)))
}

/// A literal boolean option.
pub(crate) fn bool_option(function: &str, option: &str, e: &Expr) -> Result<bool> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Boolean(b) => Ok(*b),
            _ => Err(option_error(function, option, "true or false", e)),
        },
        _ => Err(option_error(function, option, "true or false", e)),
    }
}

/// A literal number option (a leading minus allowed).
pub(crate) fn number_option(function: &str, option: &str, e: &Expr) -> Result<f64> {
    let bad = || option_error(function, option, "a number", e);
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().map_err(|_| bad()),
            _ => Err(bad()),
        },
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => {
            Ok(-number_option(function, option, expr).map_err(|_| bad())?)
        }
        Expr::Nested(inner) => number_option(function, option, inner).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// A literal string option.
pub(crate) fn string_option(function: &str, option: &str, e: &Expr) -> Result<String> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Ok(s.clone()),
            _ => Err(option_error(function, option, "a quoted string", e)),
        },
        _ => Err(option_error(function, option, "a quoted string", e)),
    }
}

/// A literal arm value (a number or a string), as JSON.
pub(crate) fn key_option(function: &str, option: &str, e: &Expr) -> Result<serde_json::Value> {
    if let Ok(x) = number_option(function, option, e) {
        return Ok(serde_json::json!(x));
    }
    if let Ok(s) = string_option(function, option, e) {
        return Ok(serde_json::Value::String(s));
    }
    if let Expr::Value(v) = e
        && let Value::Boolean(b) = v.value
    {
        return Ok(serde_json::json!(if b { 1.0 } else { 0.0 }));
    }
    Err(option_error(function, option, "a number or a quoted string", e))
}

/// A literal list of numbers, `[1, 1, 2]`.
pub(crate) fn number_list_option(function: &str, option: &str, e: &Expr) -> Result<Vec<f64>> {
    match e {
        Expr::Array(a) => a.elem.iter().map(|x| number_option(function, option, x)).collect(),
        _ => Err(option_error(function, option, "a list of numbers such as [1, 1]", e)),
    }
}

/// A metric-expression argument parsed into `parsed`, which collects its columns.
pub(crate) fn metric_argument(function: &str, parsed: &mut ParsedMetric, e: &Expr) -> Result<MetricExpr> {
    let metric = parsed.metric(function, e)?;
    if metric.arity() == 0 {
        return Err(plan_error(format!(
            "{function}: the metric `{e}`{} has no avg(...) term, so it has no variance",
            at(e)
        )));
    }
    Ok(metric)
}

/// The CUPED option: one or several metrics joined by top-level `+`, each one covariate
/// (parentheses keep a sum together as one covariate).
pub(crate) fn covariates_argument(function: &str, parsed: &mut ParsedMetric, e: &Expr) -> Result<Vec<MetricExpr>> {
    let mut terms = Vec::new();
    fn split<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
        match e {
            Expr::BinaryOp { left, op: BinaryOperator::Plus, right } => {
                split(left, out);
                split(right, out);
            }
            other => out.push(other),
        }
    }
    split(e, &mut terms);
    terms.into_iter().map(|t| metric_argument(function, parsed, t)).collect()
}

/// The columns found inside `avg(...)` terms, deduplicated by their text.
#[derive(Default)]
pub(crate) struct ParsedMetric {
    pub exprs: Vec<Expr>,
    texts: Vec<String>,
}

impl ParsedMetric {
    /// The column expressions as written.
    pub fn names(&self) -> Vec<String> {
        self.texts.clone()
    }

    /// The index of column expression `e`, added if new.
    pub fn column(&mut self, e: &Expr) -> usize {
        let text = e.to_string();
        if let Some(j) = self.texts.iter().position(|t| *t == text) {
            return j;
        }
        self.texts.push(text);
        self.exprs.push(e.clone());
        self.exprs.len() - 1
    }

    /// Parses a metric expression, collecting its columns.
    pub fn metric(&mut self, function: &str, e: &Expr) -> Result<MetricExpr> {
        let bad = |what: String| {
            plan_error(format!(
                "{function}: {what}{}; a metric is built from avg(<column expression>) terms, numbers, + - * / and parentheses, \
                 e.g. avg(numerator) / avg(denominator)",
                at(e)
            ))
        };
        Ok(match e {
            Expr::Nested(inner) => self.metric(function, inner)?,
            Expr::BinaryOp { left, op, right } => {
                let (l, r) = (self.metric(function, left)?, self.metric(function, right)?);
                match op {
                    BinaryOperator::Plus => MetricExpr::Add(l.into(), r.into()),
                    BinaryOperator::Minus => MetricExpr::Sub(l.into(), r.into()),
                    BinaryOperator::Multiply => MetricExpr::Mul(l.into(), r.into()),
                    BinaryOperator::Divide => MetricExpr::Div(l.into(), r.into()),
                    other => return Err(bad(format!("operator `{other}` is not allowed in a metric"))),
                }
            }
            Expr::UnaryOp { op: UnaryOperator::Minus, expr } => MetricExpr::Neg(self.metric(function, expr)?.into()),
            Expr::UnaryOp { op: UnaryOperator::Plus, expr } => self.metric(function, expr)?,
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => MetricExpr::Const(n.parse().map_err(|_| bad(format!("`{n}` is not a number")))?),
                _ => return Err(bad(format!("`{e}` is not a number"))),
            },
            Expr::Function(g) => {
                let gname = function_name(g).unwrap_or_default();
                match gname.as_str() {
                    "avg" | "mean" => {
                        let args = call_args(&gname, g)?;
                        match (args.positional.as_slice(), args.named.is_empty(), &g.filter, &g.over) {
                            ([inner], true, None, None) => MetricExpr::Mean(self.column(inner)),
                            _ => return Err(bad(format!("`{e}` must take exactly one column expression"))),
                        }
                    }
                    "sum" | "count" => {
                        return Err(bad(format!(
                            "`{e}` is not a mean; the delta method works on avg(...) terms (a sum is n·avg)"
                        )));
                    }
                    _ => return Err(bad(format!("`{e}` is not an avg(...) term"))),
                }
            }
            Expr::Identifier(id) => {
                return Err(bad(format!("`{id}` is a bare column (did you mean avg({id})?)")));
            }
            Expr::CompoundIdentifier(_) => {
                return Err(bad(format!("`{e}` is a bare column (did you mean avg({e})?)")));
            }
            other => return Err(bad(format!("`{other}` is not allowed in a metric"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParser;

    fn rewrite(sql: &str) -> Result<String> {
        let mut stmts = DFParser::parse_sql(sql)?;
        let mut s = stmts.pop_front().unwrap();
        rewrite_statement(&mut s)?;
        Ok(s.to_string())
    }

    #[test]
    fn ratio_metric_becomes_spec_and_columns() {
        let out = rewrite("SELECT deltamethod(avg(numerator) / avg(denominator)) FROM t").unwrap();
        assert_eq!(
            out,
            r#"SELECT deltamethod('{"metric":"$1 / $2","columns":["numerator","denominator"],"std":true}', numerator, denominator) AS "deltamethod(avg(numerator) / avg(denominator))" FROM t"#
        );
    }

    #[test]
    fn repeated_terms_share_a_column_and_options_are_read() {
        let out =
            rewrite("SELECT g, deltamethod(avg(x*2)/avg(y) - avg(x*2), std => false) AS v FROM t GROUP BY g").unwrap();
        assert!(
            out.contains(r#"{"metric":"$1 / $2 - $1","columns":["x * 2","y"],"std":false}', x * 2, y) AS v"#),
            "{out}"
        );
        let out = rewrite("SELECT deltamethod(avg(x), false) FROM t").unwrap();
        assert!(out.contains(r#""std":false"#), "{out}");
    }

    #[test]
    fn errors_point_at_the_problem() {
        let err = rewrite("SELECT deltamethod(avg(a) / b) FROM t").unwrap_err().to_string();
        assert!(err.contains("`b` is a bare column (did you mean avg(b)?) at line 1, column 29"), "{err}");
        let err = rewrite("SELECT deltamethod(sum(a)) FROM t").unwrap_err().to_string();
        assert!(err.contains("`sum(a)` is not a mean"), "{err}");
        let err = rewrite("SELECT deltamethod(avg(a), stdd => true) FROM t").unwrap_err().to_string();
        assert!(err.contains("unknown option `stdd`"), "{err}");
        let err = rewrite("SELECT deltamethod(avg(a) % 2) FROM t").unwrap_err().to_string();
        assert!(err.contains("operator `%` is not allowed"), "{err}");
    }
}
