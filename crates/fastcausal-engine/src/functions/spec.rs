//! How a statistic's options reach its accumulator.
//!
//! The SQL rewrite (see [`crate::metric_sql`]) turns a call such as
//! `deltamethod(avg(a)/avg(b), std => false)` into `deltamethod('<spec>', a, b)`: a JSON spec
//! literal first, then the plain column expressions. The spec is bound into the function
//! instance by the function's `simplify` hook ([`bind_spec`]) so that the literal is not
//! materialised for every row; an unbound call (optimizer off) still works by reading the
//! literal ([`literal_spec`]) and skipping that column ([`SkipSpec`]).

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Accumulator, AggregateUDF, Expr};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;
use serde::de::DeserializeOwned;

/// Parses a spec, naming the function on failure.
pub fn read_spec<T: DeserializeOwned>(function: &str, json: &str) -> Result<T> {
    serde_json::from_str(json)
        .map_err(|e| datafusion::common::DataFusionError::Plan(format!("{function}: invalid options '{json}': {e}")))
}

fn spec_text(value: &ScalarValue) -> Option<&str> {
    match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => Some(s),
        _ => None,
    }
}

/// The spec literal of an unbound call, from its physical arguments.
pub fn literal_spec(function: &str, example: &str, exprs: &[Arc<dyn PhysicalExpr>]) -> Result<String> {
    exprs
        .first()
        .and_then(|e| e.downcast_ref::<Literal>())
        .and_then(|l| spec_text(l.value()))
        .map(str::to_owned)
        .ok_or_else(|| datafusion::common::DataFusionError::Plan(format!("{function}: call it as in {example}")))
}

/// Moves the spec literal of `call` into a function instance made by `bind`.
pub fn bind_spec(mut call: AggregateFunction, bind: impl Fn(String) -> AggregateUDF) -> Result<Expr> {
    let spec = match call.params.args.first() {
        Some(Expr::Literal(value, _)) => spec_text(value).map(str::to_owned),
        _ => None,
    };
    let Some(spec) = spec else {
        return Ok(Expr::AggregateFunction(call));
    };
    call.params.args.remove(0);
    Ok(Expr::AggregateFunction(AggregateFunction { func: Arc::new(bind(spec)), params: call.params }))
}

/// Drops the leading spec column(s) of an unbound call before the real accumulator.
#[derive(Debug)]
pub struct SkipSpec<A> {
    skip: usize,
    inner: A,
}

impl<A> SkipSpec<A> {
    pub fn new(skip: usize, inner: A) -> Self {
        SkipSpec { skip, inner }
    }
}

impl<A: Accumulator> Accumulator for SkipSpec<A> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.update_batch(&values[self.skip..])
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.inner.evaluate()
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }
}
