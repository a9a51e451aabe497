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
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::dataframe::DataFrame;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{
    ExecutionPlan, ExecutionPlanProperties, Partitioning, SendableRecordBatchStream, collect_partitioned,
};
use futures::future::BoxFuture;

use crate::first_rows::FirstRowsExec;

/// Every row of `df`.
pub fn collect(df: DataFrame) -> BoxFuture<'static, Result<Vec<RecordBatch>>> {
    Box::pin(df.collect())
}

/// Every row of `df`, in the order of its rows where it has one (see [`plan_in_order`]).
///
/// A plan that only passes rows through (scans, filters, projections, limits, unions; see
/// [`passes_rows_through`]) runs with batches of at least `min_batch_rows` rows, since its
/// batches are the result and each one costs a receiver such as pyarrow per-column work. A plan
/// that aggregates, joins or sorts keeps the session's batch size, which suits its inner work:
/// 131,072-row batches made the regressions and CUPED 5–10% slower.
pub fn collect_in_order(df: DataFrame, min_batch_rows: usize) -> BoxFuture<'static, Result<Vec<RecordBatch>>> {
    Box::pin(async move {
        let (plan, mut task, row_wise) = plan_in_order(df).await?;
        if row_wise {
            let config = task.session_config().clone();
            let rows = config.batch_size().max(min_batch_rows);
            task = task.with_session_config(config.with_batch_size(rows));
        }
        Ok(collect_partitioned(plan, Arc::new(task)).await?.into_iter().flatten().collect())
    })
}

/// The rows of `df` as one stream, in the order of its rows where it has one (see
/// [`plan_in_order`]): the partitions of a plan that passes rows through still run at once, but
/// their batches are passed on one partition after the other (each running at most
/// [`BUFFERED_BATCHES`](crate::first_rows::BUFFERED_BATCHES) batches ahead). Other plans stream
/// as [`execute_stream`] does. For writing a frame to a file.
pub fn execute_stream_in_order(df: DataFrame) -> BoxFuture<'static, Result<SendableRecordBatchStream>> {
    Box::pin(async move {
        let (plan, task, row_wise) = plan_in_order(df).await?;
        let task = Arc::new(task);
        if row_wise && plan.output_partitioning().partition_count() > 1 {
            return FirstRowsExec::new(plan, usize::MAX).execute(0, task);
        }
        datafusion::physical_plan::execute_stream(plan, task)
    })
}

/// The physical plan of `df` for reading its rows in order, whether it only passes rows through,
/// and the context to run it in.
///
/// Sources are read as partitions of consecutive rows (file byte ranges in order, Arrow data
/// from Python in runs), and operators that pass rows through keep each partition's order, so
/// reading the partitions one after the other gives the rows in order — unless the planner deals
/// a partition's batches out to the cores round-robin, as it does when a source has fewer
/// partitions than there are cores, or a file scan's idle partition steals a sibling's row
/// groups (DataFusion's work stealing). Such a plan therefore runs without its round-robin
/// repartitions and without work stealing; it loses only some spreading of a small source's
/// work over the cores.
async fn plan_in_order(df: DataFrame) -> Result<(Arc<dyn ExecutionPlan>, TaskContext, bool)> {
    let task = df.task_ctx();
    let plan = df.create_physical_plan().await?;
    if !passes_rows_through(plan.as_ref()) {
        return Ok((plan, task, false));
    }
    let plan = plan
        .transform_up(|node| match node.downcast_ref::<RepartitionExec>() {
            Some(r) if matches!(r.partitioning(), Partitioning::RoundRobinBatch(_)) => {
                Ok(Transformed::yes(Arc::clone(r.input())))
            }
            _ => Ok(Transformed::no(node)),
        })?
        .data;
    let mut config = task.session_config().clone();
    config.options_mut().execution.enable_file_stream_work_stealing = false;
    Ok((plan, task.with_session_config(config), true))
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

    fn contains(plan: &dyn ExecutionPlan, name: &str) -> bool {
        plan.name() == name || plan.children().into_iter().any(|c| contains(c.as_ref(), name))
    }

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

    #[tokio::test]
    async fn ordered_reads_keep_the_rows_order() {
        use datafusion::arrow::array::{AsArray, Int64Array};
        use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
        use datafusion::datasource::MemTable;
        use futures::TryStreamExt;

        let engine = Engine::in_memory();
        engine.sql("SET datafusion.execution.target_partitions = 6").await.unwrap();
        engine.sql("SET datafusion.execution.batch_size = 100").await.unwrap();
        // 4 partitions of 5 batches of 1,500 consecutive ids: 0..30,000 in order.
        let schema = Arc::new(Schema::new(vec![Field::new("value", DataType::Int64, false)]));
        let batch = |start: i64, len: i64| {
            let ids = Int64Array::from_iter_values(start..start + len);
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(ids)]).unwrap()
        };
        let parts = (0..4).map(|p| (0..5).map(|b| batch(p * 7500 + b * 1500, 1500)).collect()).collect();
        engine.context().register_table("t", Arc::new(MemTable::try_new(Arc::clone(&schema), parts).unwrap())).unwrap();
        // The same rows as one batch: a partition the planner cannot cut, so it deals the
        // batch's 100-row slices round-robin to six partitions for the filter.
        let one = vec![vec![batch(0, 30000)]];
        engine.context().register_table("one", Arc::new(MemTable::try_new(Arc::clone(&schema), one).unwrap())).unwrap();
        let ids = |batches: Vec<RecordBatch>| -> Vec<i64> {
            batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect()
        };
        let want: Vec<i64> = (0..30000).step_by(3).collect();
        let plain = engine.sql("SELECT value FROM one WHERE value % 3 = 0").await.unwrap();
        let plain = plain.create_physical_plan().await.unwrap();
        let shown = datafusion::physical_plan::displayable(plain.as_ref()).indent(false).to_string();
        assert!(contains(plain.as_ref(), "RepartitionExec"), "the case below is the round-robin one: {shown}");
        for _ in 0..10 {
            // Four partitions: read in turn. One partition, which the planner would deal
            // round-robin to six for the filter: planned without that.
            for sql in ["SELECT value FROM t WHERE value % 3 = 0", "SELECT value FROM one WHERE value % 3 = 0"] {
                let stream = execute_stream_in_order(engine.sql(sql).await.unwrap()).await.unwrap();
                assert_eq!(ids(stream.try_collect().await.unwrap()), want, "{sql}");
                assert_eq!(ids(collect_in_order(engine.sql(sql).await.unwrap(), 1000).await.unwrap()), want, "{sql}");
            }
        }
    }
}
