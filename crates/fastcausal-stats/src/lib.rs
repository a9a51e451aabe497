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
//! * [`state`]: [`RowState`], the contract of every state fed by rows of numbers.
//!
//! Errors are [`StatsError`] values that name what is wrong in words a data scientist knows.

pub mod alternative;
pub mod codec;
pub mod delta_method;
pub mod error;
pub mod metric;
pub mod moments;
pub mod state;
mod sum;

pub use alternative::Alternative;
pub use codec::StateCodec;
pub use delta_method::{DeltaMethod, delta_method};
pub use error::{Result, StatsError};
pub use metric::MetricExpr;
pub use moments::CoMoments;
pub use state::RowState;
