//! `LIMIT` takes the first rows.
//!
//! A table read by several partitions is read as runs of consecutive rows: a file's byte ranges,
//! several files in name order, the slices of Arrow data handed over from Python. DataFusion
//! plans `LIMIT n` over such a read as "the first `n` rows any partition delivers"
//! (`CoalescePartitionsExec` with a fetch), so which rows come back depends on which core gets
//! there first: `df.head(3)` of a 4M-row frame in two partitions showed rows 2,000,000–2,000,002
//! once in thirty calls, and a filtered head one call in five.
//!
//! [`FirstRows`], a physical optimizer rule of every session, replaces each such node by
//! [`FirstRowsExec`], which still runs every partition at once but passes their batches on one
//! partition after the other, so a limit takes the rows a reader meets first, every time. Each
//! partition runs at most [`BUFFERED_BATCHES`] batches ahead of its turn, so memory stays small;
//! once the limit is met, the partitions are stopped.
//!
//! A limit under `ORDER BY` is unaffected (it is a top-k sort), and so is any plan without a
//! limit: there DataFusion merges partitions as they come, which SQL allows and speed wants.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, internal_err};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// How many batches a partition computes ahead of its turn.
pub const BUFFERED_BATCHES: usize = 2;

/// The rule: every limited `CoalescePartitionsExec` becomes a [`FirstRowsExec`].
#[derive(Debug, Default)]
pub struct FirstRows;

impl PhysicalOptimizerRule for FirstRows {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(coalesce) = node.downcast_ref::<CoalescePartitionsExec>() else {
                return Ok(Transformed::no(node));
            };
            match coalesce.fetch() {
                Some(fetch) if coalesce.input().output_partitioning().partition_count() > 1 => {
                    Ok(Transformed::yes(Arc::new(FirstRowsExec::new(Arc::clone(coalesce.input()), fetch))))
                }
                _ => Ok(Transformed::no(node)),
            }
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "first_rows"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The first `fetch` rows of `input`'s partitions read one after the other (see the
/// [module documentation](self)); with `fetch` = `usize::MAX`, all of them, in order
/// ([`execute_stream_in_order`](crate::run::execute_stream_in_order)).
#[derive(Debug)]
pub struct FirstRowsExec {
    input: Arc<dyn ExecutionPlan>,
    fetch: usize,
    properties: Arc<PlanProperties>,
}

impl FirstRowsExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, fetch: usize) -> Self {
        // One partition out; the partitions' own orderings do not survive being put end to end.
        let mut equivalences = input.equivalence_properties().clone();
        equivalences.clear_orderings();
        equivalences.clear_per_partition_constants();
        let properties = PlanProperties::new(
            equivalences,
            Partitioning::UnknownPartitioning(1),
            input.pipeline_behavior(),
            input.boundedness(),
        );
        FirstRowsExec { input, fetch, properties: Arc::new(properties) }
    }
}

impl DisplayAs for FirstRowsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "FirstRowsExec: fetch={}", self.fetch)
    }
}

impl ExecutionPlan for FirstRowsExec {
    fn name(&self) -> &str {
        "FirstRowsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("FirstRowsExec has one input, not {}", children.len());
        }
        Ok(Arc::new(FirstRowsExec::new(children.swap_remove(0), self.fetch)))
    }

    fn fetch(&self) -> Option<usize> {
        Some(self.fetch)
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("FirstRowsExec has one partition, not {partition}");
        }
        let mut tasks = JoinSet::new();
        let mut queues = VecDeque::new();
        for i in 0..self.input.output_partitioning().partition_count() {
            let (tx, rx) = mpsc::channel(BUFFERED_BATCHES);
            let (input, context) = (Arc::clone(&self.input), Arc::clone(&context));
            tasks.spawn(async move {
                let mut batches = match input.execute(i, context) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                while let Some(batch) = batches.next().await {
                    let failed = batch.is_err();
                    if tx.send(batch).await.is_err() || failed {
                        return;
                    }
                }
            });
            queues.push_back(rx);
        }
        let state = Turns { queues, left: self.fetch, _tasks: tasks };
        let stream = futures::stream::unfold(state, |mut s| async move {
            while s.left > 0 {
                let queue = s.queues.front_mut()?;
                match queue.recv().await {
                    None => {
                        s.queues.pop_front(); // this partition is done: the next one's turn
                    }
                    Some(Err(e)) => {
                        s.left = 0;
                        return Some((Err(e), s));
                    }
                    Some(Ok(batch)) => {
                        let batch = if batch.num_rows() > s.left { batch.slice(0, s.left) } else { batch };
                        s.left -= batch.num_rows();
                        return Some((Ok(batch), s));
                    }
                }
            }
            None // the limit is met: dropping the state stops the partitions' tasks
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.input.schema(), stream)))
    }
}

/// The partitions' queues, the current one first, the rows still to pass on, and the tasks
/// filling the queues (aborted when this is dropped, which stops the partitions).
struct Turns {
    queues: VecDeque<mpsc::Receiver<Result<RecordBatch>>>,
    left: usize,
    _tasks: JoinSet<()>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    /// 4 partitions of 3 batches of 1,000 consecutive ids each: 0..12,000 in order.
    fn context() -> SessionContext {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let batch = |start: i64| {
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Int64Array::from_iter_values(start..start + 1000))])
                .unwrap()
        };
        let parts = (0..4).map(|p| (0..3).map(|b| batch(p * 3000 + b * 1000)).collect()).collect();
        let ctx = SessionContext::new_with_state(crate::session_state(crate::default_config().with_target_partitions(4)));
        ctx.register_table("t", Arc::new(MemTable::try_new(schema, parts).unwrap())).unwrap();
        ctx
    }

    async fn ids(ctx: &SessionContext, sql: &str) -> Vec<i64> {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect()
    }

    #[tokio::test]
    async fn limits_take_the_first_rows_every_time() {
        let ctx = context();
        let plan = ctx.sql("SELECT id FROM t LIMIT 5").await.unwrap().create_physical_plan().await.unwrap();
        assert!(datafusion::physical_plan::displayable(plan.as_ref()).indent(false).to_string().contains("FirstRowsExec"));
        for _ in 0..20 {
            assert_eq!(ids(&ctx, "SELECT id FROM t LIMIT 5").await, vec![0, 1, 2, 3, 4]);
            // Across a partition's batches and into the next partition: 2,990..3,010.
            assert_eq!(ids(&ctx, "SELECT id FROM t LIMIT 20 OFFSET 2990").await, (2990..3010).collect::<Vec<_>>());
            // Filtered: the multiples of 1,999 are 0, 1999, 3998, 5997, …; partitions 0 and 1 hold two each.
            assert_eq!(ids(&ctx, "SELECT id FROM t WHERE id % 1999 = 0 LIMIT 4").await, vec![0, 1999, 3998, 5997]);
        }
        // More than there is: every row, in order.
        assert_eq!(ids(&ctx, "SELECT id FROM t LIMIT 100000").await, (0..12_000).collect::<Vec<_>>());
        assert_eq!(ids(&ctx, "SELECT id FROM t LIMIT 0").await, Vec::<i64>::new());
    }
}
