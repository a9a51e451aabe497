//! fastcausal on Apache DataFusion.
//!
//! The statistics live in `fastcausal-stats` as mergeable states; this crate makes them SQL:
//!
//! * [`functions`]: one thin aggregate-function adapter per statistic, over a generic
//!   accumulator that handles NULLs, `FILTER`, `GROUP BY` and partial states.
//! * [`metric_sql`]: the rewrite that lets metric expressions such as
//!   `avg(numerator) / avg(denominator)` appear inside a statistic's call.
//! * [`models`]: stored models — `CREATE MODEL`, versioned JSON documents in the warehouse —
//!   applied with `predict`.
//! * [`multipass`]: statistics fitted in several passes over the data (logistic regression's
//!   Newton steps), run by the engine before a statement is planned.
//! * [`session`]: [`session_state`], the one place functions are registered, and [`Engine`], a
//!   session that also resolves warehouse tables and file paths by name.
//! * [`warehouse`], [`import`], [`sources`], [`sniff`]: data in — named Parquet tables in a local
//!   directory, and Parquet/CSV/JSON/Arrow files, globs and directories; [`local_files`]: local
//!   files read through memory maps rather than copied.
//! * [`gen_data`]: the synthetic A/B-test and observational data set of the design document.
//! * [`describe`], [`output`], [`summary`]: column summaries, result formatting and model
//!   summaries shared by the front ends.
//!
//! Arrow, Parquet and object_store are used through `datafusion::` re-exports only, so exactly
//! one version of each is linked.

pub mod catalog;
pub mod describe;
pub mod error;
pub mod first_rows;
pub mod functions;
pub mod gen_data;
pub mod import;
pub mod local_files;
pub mod metric_sql;
pub mod models;
pub mod multipass;
pub mod output;
pub mod progress;
pub mod run;
pub mod session;
pub mod sniff;
pub mod sources;
pub mod summary;
pub mod warehouse;

pub use error::{EngineError, EngineResult, user_message};
pub use session::{Command, Engine, default_config, session_state};
pub use sources::SourceOptions;
pub use warehouse::Warehouse;
