//! The numerics of fastcausal.
//!
//! Every estimator in fastcausal is computed from a small *state* of sufficient statistics that
//! supports three operations:
//!
//! ```text
//! update(state, rows)     merge(state, state)     finish(state) -> result
//! ```
//!
//! Because states merge, the same code runs on one core, on all cores (one state per partition,
//! merged at the end), across a cluster, and across days of data; a state can also be stored
//! (see [`StateCodec`]) and finished later. The states in this crate know nothing about
//! DataFusion, Arrow or I/O: they take plain `f64` slices. The engine crate adapts them to SQL.
//!
//! Modules:
//!
//! * [`moments`]: [`CoMoments`], the count, means and centred cross-products of k columns,
//!   updated a batch at a time or a row at a time and merged exactly (Chan et al.).
//! * [`metric`]: [`MetricExpr`], an arithmetic expression of means such as
//!   `avg(numerator)/avg(denominator)`, with its exact gradient.
//! * [`delta_method`]: the delta-method variance of a metric expression from a [`CoMoments`].
//! * [`distributions`]: normal, Student t and chi-square tails and quantiles, accurate to about
//!   1e-13 relative for any degrees of freedom (Welch's can be in the millions).
//! * [`keyed`]: [`Keyed`], one state per arm or (arm, stratum) cell.
//! * [`sorted_values`]: [`SortedValues`], the values of one column kept sorted: the state of a
//!   rank test for one arm.
//! * [`rank_tests`]: [`mann_whitney_u`] and [`ks_2samp`], the Mann–Whitney U and two-sample
//!   Kolmogorov–Smirnov tests on two sorted arms, with scipy's p-values.
//! * [`regression`]: linear models (OLS, WLS; classical and robust errors) from
//!   [`regression::DesignMoments`].
//! * [`state`]: [`RowState`], the contract of every state fed by rows of numbers.
//!
//! Errors are [`StatsError`] values that name what is wrong in words a data scientist knows.

pub mod alternative;
pub mod codec;
pub mod delta_method;
pub mod distributions;
pub mod error;
pub mod hash;
pub mod keyed;
pub mod mean_tests;
pub mod metric;
pub mod moments;
pub mod multiple_testing;
pub mod power;
pub mod rank_tests;
pub mod regression;
pub mod sorted_values;
pub mod srm;
pub mod state;
mod sum;

pub use alternative::Alternative;
pub use codec::StateCodec;
pub use delta_method::{DeltaMethod, delta_method};
pub use error::{Result, StatsError};
pub use keyed::{KeyRef, KeyValue, Keyed};
pub use metric::MetricExpr;
pub use moments::CoMoments;
pub use rank_tests::{KolmogorovSmirnov, MannWhitney, ks_2samp, mann_whitney_u};
pub use sorted_values::SortedValues;
pub use state::RowState;
