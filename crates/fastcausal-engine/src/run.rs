//! Running plans for the front ends, behind compiled code.
//!
//! Every async entry point of the engine (these, [`Engine::sql`](crate::Engine::sql) and the
//! other methods of a session, [`describe`](crate::describe::describe),
//! [`import`](crate::import::import), [`table_for_path`](crate::sources::table_for_path)) returns
//! a [`BoxFuture`] rather than being an `async fn`, and front ends run DataFusion plans through
//! the functions here rather than awaiting DataFusion's own `async fn`s.
//!
//! The reason is compile time. A crate that awaits another crate's `async fn` compiles that
//! function's body again for itself, and with it every generic function the body reaches:
//! awaiting `Engine::sql` compiled DataFusion's SQL planner and sqlparser's syntax tree code (1.2
//! million lines of LLVM IR) into the 500-line Python extension, and again into the command
//! line, and into each test program. A boxed future is polled through a pointer to code compiled
//! once, here; the cost is one allocation per call.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::Result;
use datafusion::dataframe::DataFrame;
use datafusion::physical_plan::{SendableRecordBatchStream, collect_partitioned};
use futures::future::BoxFuture;

/// Every row of `df`.
pub fn collect(df: DataFrame) -> BoxFuture<'static, Result<Vec<RecordBatch>>> {
    Box::pin(df.collect())
}

/// Every row of `df` in batches of at least `min_batch_rows` rows where the plan allows (the
/// plan runs with that batch size), its partitions one after the other: rows from Python or from
/// files, selected or filtered, come back in their order.
pub fn collect_in_order(df: DataFrame, min_batch_rows: usize) -> BoxFuture<'static, Result<Vec<RecordBatch>>> {
    Box::pin(async move {
        let task = df.task_ctx();
        let config = task.session_config().clone();
        let rows = config.batch_size().max(min_batch_rows);
        let task = Arc::new(task.with_session_config(config.with_batch_size(rows)));
        let plan = df.create_physical_plan().await?;
        Ok(collect_partitioned(plan, task).await?.into_iter().flatten().collect())
    })
}

/// The number of rows of `df`.
pub fn count(df: DataFrame) -> BoxFuture<'static, Result<usize>> {
    Box::pin(df.count())
}

/// The rows of `df` as one stream, as they are computed.
pub fn execute_stream(df: DataFrame) -> BoxFuture<'static, Result<SendableRecordBatchStream>> {
    Box::pin(df.execute_stream())
}
