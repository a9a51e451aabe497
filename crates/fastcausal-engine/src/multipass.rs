//! Statistics that take several passes over the data, run before a statement is planned.
//!
//! Most statistics are one aggregation: one pass, one mergeable state. A maximum-likelihood fit is
//! a loop of them — each Newton step is an aggregation whose state depends on the previous step's
//! coefficients. SQL has no loop, so the engine runs it: after the SQL rewrite, a `logistic(…)`
//! call carries a spec without coefficients. [`resolve`] finds each such call with the `FROM`,
//! `WHERE` and visible `WITH` clauses of its `SELECT`, and runs the Newton loop as queries of the
//! form
//!
//! ```sql
//! WITH …  SELECT logistic_pass('<spec at β>', groups…, keys…, values…) FILTER (…) FROM … WHERE …
//! ```
//!
//! — one aggregate over the same rows, with every `GROUP BY` group's cells keys of one state —
//! decoding the state each time and taking each group's Newton step
//! ([`fastcausal_stats::regression::logistic::Newton`]) until all groups have converged. The
//! coefficients are then written into the call's spec, and the statement is planned and run as
//! the user wrote it: its own aggregation is the last pass, at the converged coefficients. Each
//! pass is an ordinary query, so passes run on every partition (and on a cluster) like any other.
//!
//! Calls are resolved innermost first: a call whose pass query would contain another unresolved
//! call (in a subquery or a CTE it reads) waits until that one is resolved.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::common::{DataFusionError, Result};
use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    Cte, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectName, ObjectNamePart, Query, Select,
    TableWithJoins, Value, Visit, VisitMut, Visitor, VisitorMut,
};
use fastcausal_stats::regression::DesignMoments;
use fastcausal_stats::regression::logistic::{LogisticMoments, LogisticParameters, Newton, Progress, newton_step};
use fastcausal_stats::{KeyValue, Keyed, StateCodec};

use crate::error::stats_error;
use crate::functions::logistic::{GroupParameters, LogisticFunction, LogisticKind, LogisticSpec, split_groups};
use crate::functions::regression::{LinearSpec, leverage_groups};
use crate::functions::state_accumulator::StateFunction;
use crate::metric_sql::plan_error;
use crate::session::Engine;

/// Runs the passes of every multi-pass call in `statement` and writes their results into the
/// calls' specs. A plain `EXPLAIN` runs nothing (its plan shows the calls unresolved).
pub(crate) async fn resolve(engine: &Engine, statement: &mut DFStatement) -> Result<()> {
    if let DFStatement::Explain(e) = statement
        && !e.options.analyze
    {
        return Ok(());
    }
    loop {
        let jobs = find_jobs(statement)?;
        if jobs.is_empty() {
            return Ok(());
        }
        // The first call whose pass query holds no unresolved call itself.
        let mut ready = None;
        for job in jobs {
            let text = match &job.spec {
                Pending::Logistic(spec) => job.pass_query("logistic_pass", spec)?,
                Pending::Leverage(spec) => job.pass_query("ols_pass", spec)?,
            };
            if find_jobs(&parse_one(engine, &text)?)?.is_empty() {
                ready = Some(job);
                break;
            }
        }
        let job = ready.ok_or_else(|| plan_error("calls that depend on each other in a cycle".into()))?;
        let text = match &job.spec {
            Pending::Logistic(spec) => serde_json::to_string(&run_newton(engine, &job, spec).await?),
            Pending::Leverage(spec) => serde_json::to_string(&run_leverage(engine, &job, spec).await?),
        }
        .expect("spec serialises");
        let mut writer = SpecWriter { target: job.index, seen: 0, spec: Some(text) };
        let _ = visit_statement_mut(statement, &mut writer);
    }
}

fn parse_one(engine: &Engine, text: &str) -> Result<DFStatement> {
    let mut statements = engine.parse_raw(text)?;
    match (statements.pop_front(), statements.is_empty()) {
        (Some(s), true) => Ok(s),
        _ => Err(plan_error(format!("internal: the pass query `{text}` is not one statement"))),
    }
}

/// The Newton loop of one call: passes until every group has converged; the call's spec with
/// the coefficients.
async fn run_newton(engine: &Engine, job: &Job, spec: &LogisticSpec) -> Result<LogisticSpec> {
    let function = LogisticFunction::new(LogisticKind::Pass, spec.clone())?;
    let groups = function.group_keys();
    let label = function.label().to_owned();
    let mut loops: BTreeMap<Vec<KeyValue>, Newton> = BTreeMap::new();
    let mut done: BTreeMap<Vec<KeyValue>, LogisticParameters> = BTreeMap::new();
    let mut spec = spec.clone();
    spec.parameters = None;
    loop {
        let cells: Keyed<LogisticMoments> = run_pass(engine, &job.pass_query("logistic_pass", &spec)?, &label).await?;
        for (group, group_cells) in split_groups(cells, groups) {
            if done.contains_key(&group) {
                continue;
            }
            let newton = loops.entry(group.clone()).or_default();
            let at_group = |e| {
                let shown = if group.is_empty() {
                    String::new()
                } else {
                    let values: Vec<String> =
                        spec.groups.iter().zip(&group).map(|(g, v)| format!("{g} = {v}")).collect();
                    format!(" [{}]", values.join(", "))
                };
                stats_error(&format!("{label}{shown}"), e)
            };
            let step = newton_step(
                &function.formula,
                &function.design,
                &group_cells,
                function.clusterings(),
                newton.parameters(),
            )
            .map_err(at_group)?;
            if newton.advance(&step).map_err(at_group)? == Progress::Converged {
                done.insert(group, newton.parameters().expect("set by advance").clone());
            }
        }
        let parameters: Vec<GroupParameters> = loops
            .iter()
            .map(|(g, n)| GroupParameters {
                group: g.clone(),
                at: done.get(g).cloned().unwrap_or_else(|| n.parameters().cloned().unwrap_or_default()),
            })
            .collect();
        spec.parameters = Some(parameters);
        if done.len() == loops.len() {
            return Ok(spec);
        }
    }
}

/// The first pass of an HC2/HC3 fit: the call's spec with each group's least-squares fit.
async fn run_leverage(engine: &Engine, job: &Job, spec: &LinearSpec) -> Result<LinearSpec> {
    let state: Keyed<DesignMoments> = run_pass(engine, &job.pass_query("ols_pass", spec)?, "ols").await?;
    Ok(LinearSpec { leverage: Some(leverage_groups(spec, state)?), ..spec.clone() })
}

/// Runs one pass query and decodes the state it returns (empty when there were no rows).
async fn run_pass<S: StateCodec>(engine: &Engine, text: &str, label: &str) -> Result<Keyed<S>> {
    let statement = parse_one(engine, text)?;
    let batches = Box::pin(engine.execute_statement(statement)).await?.collect().await?;
    let bytes = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| b.column(0).as_binary::<i32>())
        .filter(|c| c.is_valid(0))
        .map(|c| c.value(0).to_vec());
    match bytes {
        Some(b) => Keyed::<S>::decode(&b).map_err(|e| stats_error(label, e)),
        None => Ok(Keyed::new()),
    }
}

/// The spec of a call whose passes have not run.
enum Pending {
    Logistic(LogisticSpec),
    Leverage(LinearSpec),
}

/// One unresolved call and the clauses its passes run over.
struct Job {
    /// Position among the statement's unresolved calls, in visiting order.
    index: usize,
    call: Function,
    spec: Pending,
    ctes: Vec<Cte>,
    recursive: bool,
    from: Vec<TableWithJoins>,
    selection: Option<Expr>,
}

impl Job {
    /// The pass query: the call as `function` with `spec`.
    fn pass_query(&self, function: &str, spec: &impl serde::Serialize) -> Result<String> {
        let mut call = self.call.clone();
        call.name = ObjectName(vec![ObjectNamePart::Identifier(datafusion::sql::sqlparser::ast::Ident::new(function))]);
        set_spec(&mut call, serde_json::to_string(spec).expect("spec serialises"));
        if call.over.is_some() {
            return Err(plan_error(format!("{} cannot be used as a window function (OVER)", self.call.name)));
        }
        let mut text = String::new();
        if !self.ctes.is_empty() {
            let ctes: Vec<String> = self.ctes.iter().map(|c| c.to_string()).collect();
            text += &format!("WITH {}{} ", if self.recursive { "RECURSIVE " } else { "" }, ctes.join(", "));
        }
        text += &format!("SELECT {call}");
        if !self.from.is_empty() {
            let from: Vec<String> = self.from.iter().map(|t| t.to_string()).collect();
            text += &format!(" FROM {}", from.join(", "));
        }
        if let Some(w) = &self.selection {
            text += &format!(" WHERE {w}");
        }
        Ok(text)
    }
}

/// The spec of a multi-pass call (`logistic`, `ols_leverage`) whose passes have not run.
fn unresolved(expr: &Expr) -> Option<(&Function, Pending)> {
    let Expr::Function(f) = expr else { return None };
    let name = match f.name.0.as_slice() {
        [ObjectNamePart::Identifier(id)] => id.value.to_ascii_lowercase(),
        _ => return None,
    };
    if name != "logistic" && name != "ols_leverage" {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else { return None };
    let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))) = list.args.first() else { return None };
    let Value::SingleQuotedString(json) = &v.value else { return None };
    let pending = if name == "logistic" {
        let spec: LogisticSpec = serde_json::from_str(json).ok()?;
        spec.parameters.is_none().then_some(Pending::Logistic(spec))?
    } else {
        let spec: LinearSpec = serde_json::from_str(json).ok()?;
        spec.leverage.is_none().then_some(Pending::Leverage(spec))?
    };
    Some((f, pending))
}

fn set_spec(f: &mut Function, json: String) {
    if let FunctionArguments::List(list) = &mut f.args
        && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))) = list.args.first_mut()
    {
        v.value = Value::SingleQuotedString(json);
    }
}

fn visit_statement<V: Visitor>(statement: &DFStatement, v: &mut V) -> ControlFlow<V::Break> {
    match statement {
        DFStatement::Statement(s) => s.visit(v),
        DFStatement::Explain(e) => visit_statement(&e.statement, v),
        DFStatement::CopyTo(c) => match &c.source {
            CopyToSource::Query(q) => q.visit(v),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        _ => ControlFlow::Continue(()),
    }
}

fn visit_statement_mut<V: VisitorMut>(statement: &mut DFStatement, v: &mut V) -> ControlFlow<V::Break> {
    match statement {
        DFStatement::Statement(s) => s.visit(v),
        DFStatement::Explain(e) => visit_statement_mut(&mut e.statement, v),
        DFStatement::CopyTo(c) => match &mut c.source {
            CopyToSource::Query(q) => q.visit(v),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        _ => ControlFlow::Continue(()),
    }
}

fn find_jobs(statement: &DFStatement) -> Result<Vec<Job>> {
    let mut finder = Finder::default();
    match visit_statement(statement, &mut finder) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(finder.jobs),
    }
}

/// A query being visited: its CTEs, and whether it is itself the body of a CTE (by name).
struct QueryFrame {
    ctes: Vec<Cte>,
    recursive: bool,
    body_of: Option<String>,
}

/// Finds the unresolved calls with their context.
#[derive(Default)]
struct Finder {
    jobs: Vec<Job>,
    queries: Vec<QueryFrame>,
    selects: Vec<(Vec<TableWithJoins>, Option<Expr>)>,
    /// The address of each CTE body seen, with its name (addresses are stable: nothing moves
    /// while the statement is visited).
    cte_bodies: HashMap<usize, String>,
}

impl Visitor for Finder {
    type Break = DataFusionError;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<DataFusionError> {
        let body_of = self.cte_bodies.get(&(query as *const Query as usize)).cloned();
        let (ctes, recursive) = match &query.with {
            Some(w) => {
                for c in &w.cte_tables {
                    self.cte_bodies.insert(&*c.query as *const Query as usize, c.alias.name.value.clone());
                }
                (w.cte_tables.clone(), w.recursive)
            }
            None => (Vec::new(), false),
        };
        self.queries.push(QueryFrame { ctes, recursive, body_of });
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<DataFusionError> {
        self.queries.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<DataFusionError> {
        self.selects.push((select.from.clone(), select.selection.clone()));
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, _select: &Select) -> ControlFlow<DataFusionError> {
        self.selects.pop();
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<DataFusionError> {
        let Some((call, spec)) = unresolved(expr) else { return ControlFlow::Continue(()) };
        let Some((from, selection)) = self.selects.last().cloned() else {
            return ControlFlow::Break(plan_error(format!(
                "{} must be called in the select list of a SELECT",
                call.name
            )));
        };
        // Every CTE in scope but those whose bodies hold this call.
        let inside: Vec<&str> = self.queries.iter().filter_map(|q| q.body_of.as_deref()).collect();
        let ctes: Vec<Cte> = self
            .queries
            .iter()
            .flat_map(|q| q.ctes.iter())
            .filter(|c| !inside.contains(&c.alias.name.value.as_str()))
            .cloned()
            .collect();
        let recursive = self.queries.iter().any(|q| q.recursive);
        self.jobs.push(Job { index: self.jobs.len(), call: call.clone(), spec, ctes, recursive, from, selection });
        ControlFlow::Continue(())
    }
}

/// Writes the resolved spec into the `target`-th unresolved call.
struct SpecWriter {
    target: usize,
    seen: usize,
    spec: Option<String>,
}

impl VisitorMut for SpecWriter {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if unresolved(expr).is_none() {
            return ControlFlow::Continue(());
        }
        if self.seen == self.target {
            if let (Expr::Function(f), Some(spec)) = (expr, self.spec.take()) {
                set_spec(f, spec);
            }
            return ControlFlow::Break(());
        }
        self.seen += 1;
        ControlFlow::Continue(())
    }
}
