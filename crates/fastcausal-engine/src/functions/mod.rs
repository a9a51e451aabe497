//! The SQL functions of fastcausal, one file per function family, each a thin adapter over a
//! state of `fastcausal-stats`:
//!
//! * [`deltamethod`]: delta-method standard error of a metric expression.
//! * [`mean_tests`]: t-tests on metric expressions with CUPED and post-stratification,
//!   multi-arm comparisons, ClickHouse-style shortcuts, and power (`mde`, `sample_size`).
//! * [`srm`]: the sample-ratio-mismatch check.
//! * [`rank_tests`]: Mann–Whitney U and two-sample Kolmogorov–Smirnov.
//! * [`regression`]: linear models from formulas (`ols`, `wls`, `did`, `iv`).
//! * [`predict`]: a stored model applied to new rows, its regressors found by name.
//! * [`hash_unit`]: a row's reproducible "random" number in [0, 1), for splits and samples.
//! * [`penalized`]: ridge, lasso and elastic net with a path and cross-validation.
//! * [`logistic`]: logistic regression by exact maximum likelihood (`logistic`), fitted in
//!   several passes driven by [`crate::multipass`].
//!
//! Shared machinery: [`udaf`] (the one aggregate implementation), [`state_accumulator`] (the
//! generic accumulators), [`spec`] (how options written in SQL reach the accumulator),
//! [`arms`] (reading an experiment's arms from keyed states) and [`row`] (result structs).

pub mod arms;
pub mod deltamethod;
pub mod hash_unit;
pub mod logistic;
pub mod mean_tests;
pub mod penalized;
pub mod predict;
pub mod rank_tests;
pub mod regression;
pub mod row;
pub mod spec;
pub mod srm;
pub mod state_accumulator;
pub mod udaf;

use datafusion::logical_expr::AggregateUDF;

/// Every aggregate function fastcausal adds to SQL.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    let mut all = vec![deltamethod::deltamethod_udaf(), srm::udaf()];
    all.extend(mean_tests::udafs());
    all.extend(rank_tests::udafs());
    all.extend(regression::udafs());
    all.extend(logistic::udafs());
    all.extend(penalized::udafs());
    all
}
