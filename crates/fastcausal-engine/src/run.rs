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
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream, collect_partitioned};
use futures::future::BoxFuture;

/// Every row of `df`.
pub fn collect(df: DataFrame) -> BoxFuture<'static, Result<Vec<RecordBatch>>> {
    Box::pin(df.collect())
}

/// Every row of `df`, its partitions one after the other: rows from Python or from files,
/// selected or filtered, come back in their order.
///
/// A plan that only passes rows through (scans, filters, projections, limits, unions; see
/// [`passes_rows_through`]) runs with batches of at least `min_batch_rows` rows, since its
/// batches are the result and each one costs a receiver such as pyarrow per-column work. A plan
/// that aggregates, joins or sorts keeps the session's batch size, which suits its inner work:
/// 131,072-row batches made the regressions and CUPED 5–10% slower.
pub fn collect_in_order(df: DataFrame, min_batch_rows: usize) -> BoxFuture<'static, Result<Vec<RecordBatch>>> {
    Box::pin(async move {
        let mut task = df.task_ctx();
        let plan = df.create_physical_plan().await?;
        if passes_rows_through(plan.as_ref()) {
            let config = task.session_config().clone();
            let rows = config.batch_size().max(min_batch_rows);
            task = task.with_session_config(config.with_batch_size(rows));
        }
        Ok(collect_partitioned(plan, Arc::new(task)).await?.into_iter().flatten().collect())
    })
}

/// Whether every operator of `plan` hands on rows it reads (possibly fewer, possibly changed)
/// rather than computing new ones from many.
pub fn passes_rows_through(plan: &dyn ExecutionPlan) -> bool {
    const ROW_WISE: [&str; 11] = [
        "DataSourceExec",
        "FilterExec",
        "ProjectionExec",
        "CoalesceBatchesExec",
        "CoalescePartitionsExec",
        "RepartitionExec",
        "GlobalLimitExec",
        "LocalLimitExec",
        "UnionExec",
        "FirstRowsExec",
        "EmptyExec",
    ];
    ROW_WISE.contains(&plan.name()) && plan.children().into_iter().all(|c| passes_rows_through(c.as_ref()))
}

/// The number of rows of `df`.
pub fn count(df: DataFrame) -> BoxFuture<'static, Result<usize>> {
    Box::pin(df.count())
}

/// The rows of `df` as one stream, as they are computed.
pub fn execute_stream(df: DataFrame) -> BoxFuture<'static, Result<SendableRecordBatchStream>> {
    Box::pin(df.execute_stream())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Engine;

    #[tokio::test]
    async fn row_wise_plans_are_told_from_the_others() {
        let engine = Engine::in_memory();
        engine.sql("CREATE TABLE t AS SELECT value AS id FROM range(1000)").await.unwrap();
        for (sql, row_wise) in [
            ("SELECT id * 2 FROM t WHERE id > 1 LIMIT 3", true),
            ("SELECT id FROM t UNION ALL SELECT id FROM t", true),
            ("SELECT count(*) FROM t", false),
            ("SELECT id FROM t ORDER BY id", false),
            ("SELECT a.id FROM t a JOIN t b ON a.id = b.id", false),
        ] {
            let plan = engine.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
            assert_eq!(passes_rows_through(plan.as_ref()), row_wise, "{sql}");
        }
        let rows: usize = collect_in_order(engine.sql("SELECT id FROM t").await.unwrap(), 1 << 17)
            .await
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum();
        assert_eq!(rows, 1000);
    }
}
