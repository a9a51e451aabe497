//! `deltamethod(<metric>[, std => true])`: the delta-method standard error of a metric.
//!
//! ```sql
//! SELECT treatment, deltamethod(avg(numerator) / avg(denominator)) AS se
//! FROM test_data GROUP BY treatment;
//! ```
//!
//! The metric is any metric expression (`avg(...)` terms, numbers, `+ - * /`, parentheses); the
//! result is `sqrt(∇gᵀ Σ̂ ∇g / n)` with Σ̂ the sample covariance of the columns inside the
//! `avg(...)` terms, or the variance itself with `std => false` (FCI's `deltamethod(x, false)`
//! is accepted too). Rows where any used column is NULL are skipped; a group with no rows left
//! gives NULL; one row left, a zero denominator mean, or a NaN/infinite input is an error.
//!
//! The call is rewritten before planning (see [`crate::metric_sql`]) into
//! `deltamethod('<spec>', numerator, denominator)`, where the spec carries the metric over `$j`
//! placeholders; the UDAF's `simplify` hook then binds the spec into the function instance
//! so no literal is evaluated per row.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::AggregateUDF;
use fastcausal_stats::{CoMoments, Keyed, MetricExpr, delta_method};
use serde::{Deserialize, Serialize};

use super::spec::read_spec;
use super::state_accumulator::StateFunction;
use super::udaf::{SpecFunction, SpecUdaf};
use crate::error::stats_error;
use crate::metric_sql::{Call, ParsedMetric, Rewritten, bool_option, metric_argument};

/// The options of one `deltamethod` call, produced by the SQL rewrite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeltaMethodSpec {
    /// The metric over `$1…$k`, the means of the argument columns.
    pub metric: String,
    /// The column expressions as written, for messages.
    pub columns: Vec<String>,
    /// Standard error (true, the default) or variance (false).
    #[serde(default = "default_true")]
    pub std: bool,
}

fn default_true() -> bool {
    true
}

/// The SQL rewrite of a `deltamethod` call.
pub(crate) fn rewrite(mut call: Call) -> Result<Rewritten> {
    let name = "deltamethod";
    let metric_sql = call.required(0, "a metric", "deltamethod(avg(numerator) / avg(denominator))")?;
    let mut parsed = ParsedMetric::default();
    let metric = metric_argument(name, &mut parsed, &metric_sql)?;
    let std = match call.option(&["std"], Some(1))? {
        Some(e) => bool_option(name, "std", &e)?,
        None => true,
    };
    call.finish(&["std"])?;
    let spec = DeltaMethodSpec { metric: metric.to_string(), columns: parsed.names(), std };
    Ok(Rewritten { spec: serde_json::to_string(&spec).expect("spec serialises"), args: parsed.exprs, name: None })
}

/// The `deltamethod` SQL function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeltaMethodKind;

/// The registered (unbound) function.
pub fn deltamethod_udaf() -> AggregateUDF {
    SpecUdaf::udaf(DeltaMethodKind)
}

impl SpecFunction for DeltaMethodKind {
    type Function = DeltaMethodFunction;
    fn name(&self) -> &'static str {
        "deltamethod"
    }
    fn return_type(&self) -> DataType {
        DataType::Float64
    }
    fn build(&self, spec: &str) -> Result<DeltaMethodFunction> {
        DeltaMethodFunction::new(read_spec("deltamethod", spec)?)
    }
    fn example(&self) -> &'static str {
        "deltamethod(avg(numerator) / avg(denominator))"
    }
}

/// The finish step of `deltamethod` over a [`CoMoments`] state.
#[derive(Debug)]
pub struct DeltaMethodFunction {
    label: String,
    metric: MetricExpr,
    columns: Vec<String>,
    std: bool,
}

impl DeltaMethodFunction {
    pub fn new(spec: DeltaMethodSpec) -> Result<Self> {
        let metric = MetricExpr::parse(&spec.metric).map_err(|e| stats_error("deltamethod", e))?;
        if metric.arity() != spec.columns.len() {
            return plan_err!(
                "deltamethod: the metric uses {} columns but {} were given",
                metric.arity(),
                spec.columns.len()
            );
        }
        let label = format!("deltamethod({})", metric.display_with(&spec.columns));
        Ok(DeltaMethodFunction { label, metric, columns: spec.columns, std: spec.std })
    }
}

impl StateFunction for DeltaMethodFunction {
    type State = CoMoments;
    fn label(&self) -> &str {
        &self.label
    }
    fn column_names(&self) -> &[String] {
        &self.columns
    }
    fn new_state(&self) -> CoMoments {
        CoMoments::new(self.columns.len())
    }
    fn data_type(&self) -> DataType {
        DataType::Float64
    }
    fn finish(&self, cells: &mut Keyed<CoMoments>) -> Result<ScalarValue> {
        let Some(state) = cells.get(&[]).filter(|s| s.count() > 0) else {
            return Ok(ScalarValue::Float64(None));
        };
        let d = delta_method(&self.metric, state, &self.columns).map_err(|e| stats_error(&self.label, e))?;
        Ok(ScalarValue::Float64(Some(if self.std { d.std_error() } else { d.variance })))
    }
}
