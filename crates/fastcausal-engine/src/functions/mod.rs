//! The SQL functions of fastcausal, one file per function family, each a thin adapter over a
//! state of `fastcausal-stats`:
//!
//! * [`deltamethod`]: delta-method standard error of a metric expression.
//!
//! Shared machinery: [`state_accumulator`] (the generic accumulators) and [`spec`] (how
//! options written in SQL reach the accumulator).

pub mod deltamethod;
pub mod spec;
pub mod state_accumulator;

use datafusion::logical_expr::AggregateUDF;

/// Every aggregate function fastcausal adds to SQL.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    vec![deltamethod::deltamethod_udaf()]
}
