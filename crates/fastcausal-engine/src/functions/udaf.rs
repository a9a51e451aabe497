//! The one `AggregateUDFImpl` behind every fastcausal statistic.
//!
//! A statistic is registered as a [`SpecUdaf`] over a [`SpecFunction`] kind. The SQL rewrite
//! (see [`crate::metric_sql`]) turns a user's call into `name('<json spec>', keys…, values…)`;
//! the UDAF's `simplify` hook then binds the spec into the function instance (see
//! [`super::spec`]) so no literal is evaluated per row, and the accumulators are the generic ones
//! of [`super::state_accumulator`]. A kind supplies its name, result type and how to build its
//! [`StateFunction`] from a spec — nothing else.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility};

use super::spec::{SkipSpec, bind_spec, literal_spec};
use super::state_accumulator::{StateAccumulator, StateFunction, StateGroupsAccumulator, is_key_type};

/// One SQL function of a family that shares a state type (e.g. `ttest_2samp` and `mde`).
pub trait SpecFunction: Debug + Clone + PartialEq + Eq + Hash + Send + Sync + 'static {
    /// What the accumulators run.
    type Function: StateFunction;
    /// The SQL name.
    fn name(&self) -> &'static str;
    /// The result type (fixed per function, whatever the options).
    fn return_type(&self) -> DataType;
    /// The function for a spec written by the SQL rewrite.
    fn build(&self, spec: &str) -> Result<Self::Function>;
    /// An example call, for messages about calls the rewrite did not produce.
    fn example(&self) -> &'static str;
}

/// The registered aggregate of a [`SpecFunction`]. Unbound (as registered) its first argument is
/// the spec literal; bound (after simplification) the spec is part of the function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SpecUdaf<K: SpecFunction> {
    kind: K,
    signature: Signature,
    bound: Option<String>,
}

impl<K: SpecFunction> SpecUdaf<K> {
    /// The unbound function, as registered in a session.
    pub fn udaf(kind: K) -> AggregateUDF {
        AggregateUDF::from(SpecUdaf { kind, signature: Signature::user_defined(Volatility::Immutable), bound: None })
    }

    fn function(&self, args: &AccumulatorArgs) -> Result<Arc<K::Function>> {
        let name = self.kind.name();
        let f = match &self.bound {
            Some(json) => self.kind.build(json)?,
            None => self.kind.build(&literal_spec(name, self.kind.example(), args.exprs)?)?,
        };
        // Check input types now that keys and values are told apart.
        let fields = &args.expr_fields[self.spec_args()..];
        let nkeys = f.key_names().len();
        if fields.len() != nkeys + f.column_names().len() {
            return plan_err!("{name}: expected {} inputs, found {}", nkeys + f.column_names().len(), fields.len());
        }
        for (field, column) in fields[..nkeys].iter().zip(f.key_names()) {
            if !is_key_type(field.data_type()) {
                return plan_err!(
                    "{name}: column '{column}' has type {}; an arm or stratum must be a number or text",
                    field.data_type()
                );
            }
        }
        for (field, column) in fields[nkeys..].iter().zip(f.column_names()) {
            if !matches!(field.data_type(), DataType::Float64 | DataType::Int64) {
                return plan_err!(
                    "{name}: column '{column}' has type {}, but a number is needed; {}",
                    field.data_type(),
                    f.non_numeric_hint(column)
                );
            }
        }
        Ok(Arc::new(f))
    }

    /// Inputs skipped before the columns: the spec literal, while unbound.
    fn spec_args(&self) -> usize {
        usize::from(self.bound.is_none())
    }
}

/// Argument coercion: the spec becomes Utf8; integers that fit become Int64 (so an integer arm
/// is coded without a cast to floating point), other numbers and booleans Float64; text stays
/// text (dictionaries are unpacked); anything else is left for [`SpecUdaf::function`] to reject
/// by name. Value columns are read as `f64` by the accumulators either way.
fn coerce(t: &DataType) -> DataType {
    use DataType::*;
    match t {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 => Int64,
        t if t.is_numeric() || matches!(t, Boolean | Null) => Float64,
        DataType::Dictionary(_, v) => coerce(v),
        other => other.clone(),
    }
}

impl<K: SpecFunction> AggregateUDFImpl for SpecUdaf<K> {
    fn name(&self) -> &str {
        self.kind.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| if i < self.spec_args() { DataType::Utf8 } else { coerce(t) })
            .collect())
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.kind.return_type())
    }
    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        if self.bound.is_none() && arg_fields.len() < 2 {
            return plan_err!("{} needs arguments, e.g. {}", self.kind.name(), self.kind.example());
        }
        Ok(Arc::new(Field::new(self.name(), self.kind.return_type(), true)))
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
        let kind = self.kind.clone();
        Some(Box::new(move |call: AggregateFunction, _info: &SimplifyContext| {
            bind_spec(call, |json| {
                AggregateUDF::from(SpecUdaf {
                    kind: kind.clone(),
                    signature: Signature::user_defined(Volatility::Immutable),
                    bound: Some(json),
                })
            })
        }))
    }
}
