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
//! placeholders; [`AggregateUDFImpl::simplify`] then binds the spec into the function instance
//! so no literal is evaluated per row.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility};
use fastcausal_stats::{CoMoments, MetricExpr, delta_method};
use serde::{Deserialize, Serialize};

use super::spec::{SkipSpec, bind_spec, coerce_numeric, literal_spec, read_spec, require_numeric_fields};
use super::state_accumulator::{StateAccumulator, StateFunction, StateGroupsAccumulator};
use crate::error::stats_error;

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

/// The `deltamethod` aggregate. Unbound (as registered), its first argument is the spec
/// literal; bound (after simplification), the spec is part of the function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DeltaMethodUdaf {
    signature: Signature,
    bound: Option<String>,
}

impl DeltaMethodUdaf {
    pub fn new() -> Self {
        DeltaMethodUdaf { signature: Signature::user_defined(Volatility::Immutable), bound: None }
    }

    fn function(&self, args: &AccumulatorArgs) -> Result<Arc<DeltaMethodFunction>> {
        let spec: DeltaMethodSpec = match &self.bound {
            Some(json) => read_spec("deltamethod", json)?,
            None => read_spec("deltamethod", &literal_spec("deltamethod", args.exprs)?)?,
        };
        DeltaMethodFunction::new(spec).map(Arc::new)
    }

    /// Inputs skipped before the columns: the spec literal, while unbound.
    fn spec_args(&self) -> usize {
        usize::from(self.bound.is_none())
    }
}

impl Default for DeltaMethodUdaf {
    fn default() -> Self {
        Self::new()
    }
}

/// The registered (unbound) function.
pub fn deltamethod_udaf() -> AggregateUDF {
    AggregateUDF::from(DeltaMethodUdaf::new())
}

impl AggregateUDFImpl for DeltaMethodUdaf {
    fn name(&self) -> &str {
        "deltamethod"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_numeric(self.spec_args(), arg_types)
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        if self.bound.is_none() && arg_fields.len() < 2 {
            return plan_err!(
                "deltamethod needs a metric of avg(...) terms, e.g. deltamethod(avg(numerator) / avg(denominator))"
            );
        }
        require_numeric_fields("deltamethod", &arg_fields[self.spec_args()..])?;
        Ok(Arc::new(Field::new(self.name(), DataType::Float64, true)))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(format!("{}[state]", args.name), DataType::Binary, true))])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let f = self.function(&args)?;
        Ok(Box::new(SkipSpec::new(self.spec_args(), StateAccumulator::new(f))))
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        // Only the bound form: the unbound one would see the spec as a column.
        self.bound.is_some()
    }
    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(StateGroupsAccumulator::new(self.function(&args)?)))
    }
    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        if self.bound.is_some() {
            return None;
        }
        Some(Box::new(|call: AggregateFunction, _info: &SimplifyContext| {
            bind_spec(call, |json| AggregateUDF::from(DeltaMethodUdaf { signature: Signature::user_defined(Volatility::Immutable), bound: Some(json) }))
        }))
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
            return plan_err!("deltamethod: the metric uses {} columns but {} were given", metric.arity(), spec.columns.len());
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
    fn finish(&self, state: &CoMoments) -> Result<ScalarValue> {
        if state.count() == 0 {
            return Ok(ScalarValue::Float64(None));
        }
        let d = delta_method(&self.metric, state, &self.columns).map_err(|e| stats_error(&self.label, e))?;
        Ok(ScalarValue::Float64(Some(if self.std { d.std_error() } else { d.variance })))
    }
}
