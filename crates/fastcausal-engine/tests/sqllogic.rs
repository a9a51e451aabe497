//! The SQL regression suite: every `.slt` file under `tests/sql/` of the workspace, run twice —
//! once on a single partition and once with the data split unevenly across seven partitions
//! and four-way parallelism — so that every statistic is checked to be independent of how the
//! data is partitioned. Floats are printed with 10 significant digits (the tolerance of the
//! design); struct results are printed as one column per field.
//!
//! Every session has the table `test_data_small` (the numpy-generated reference data of
//! `tests/reference/`) registered, and a warehouse of its own (a temporary directory) for stored
//! models.
//!
//! `FASTCAUSAL_SLT_COMPLETE=1 cargo test --release --test sqllogic` rewrites the expected
//! output of every file from the single-partition run (review the diff before committing).
//! `FASTCAUSAL_SLT_FILTER=word` runs only files whose name contains `word`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::execution::context::SessionConfig;
use datafusion::prelude::CsvReadOptions;
use fastcausal_engine::output::{flatten_structs, format_float};
use fastcausal_engine::{Engine, SourceOptions, Warehouse, default_config, run};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SltError {}

/// The reference data, loaded once.
async fn reference_batches() -> &'static (SchemaRef, Vec<RecordBatch>) {
    static DATA: OnceLock<(SchemaRef, Vec<RecordBatch>)> = OnceLock::new();
    if let Some(d) = DATA.get() {
        return d;
    }
    let engine = Engine::in_memory();
    let path = workspace().join("tests/reference/test_data_small.csv");
    let df = engine
        .context()
        .read_csv(path.to_str().expect("utf-8 path"), CsvReadOptions::new().schema_infer_max_records(100_000))
        .await
        .expect("reference data");
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let batches = run::collect(df).await.expect("reference data");
    let _ = DATA.set((schema, batches));
    DATA.get().expect("set")
}

/// Splits the rows into `parts` partitions of uneven sizes.
fn split(batches: &[RecordBatch], parts: usize) -> Vec<Vec<RecordBatch>> {
    let all = datafusion::arrow::compute::concat_batches(&batches[0].schema(), batches).expect("concat");
    let n = all.num_rows();
    // Sizes proportional to 1, 2, …, parts.
    let total: usize = (1..=parts).sum();
    let mut out = Vec::new();
    let mut start = 0;
    for p in 1..=parts {
        let len = if p == parts { n - start } else { n * p / total };
        // Within a partition, batches of 777 rows so updates see many batch boundaries.
        let part: Vec<RecordBatch> =
            (start..start + len).step_by(777).map(|s| all.slice(s, 777.min(start + len - s))).collect();
        out.push(part);
        start += len;
    }
    out
}

struct TestDb {
    engine: Engine,
    /// The session's own warehouse (stored models), removed with it.
    _warehouse: tempfile::TempDir,
}

impl TestDb {
    async fn new(parts: usize, target_partitions: usize) -> Result<Self, SltError> {
        let config: SessionConfig = default_config().with_target_partitions(target_partitions);
        let warehouse = tempfile::tempdir().map_err(|e| SltError(e.to_string()))?;
        let engine = Engine::with_config(Some(Warehouse::new(warehouse.path())), SourceOptions::default(), config);
        let (schema, batches) = reference_batches().await;
        let table =
            MemTable::try_new(Arc::clone(schema), split(batches, parts)).map_err(|e| SltError(e.to_string()))?;
        engine.context().register_table("test_data_small", Arc::new(table)).map_err(|e| SltError(e.to_string()))?;
        Ok(TestDb { engine, _warehouse: warehouse })
    }
}

fn render(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in batches {
        let b = flatten_structs(b).expect("flatten");
        let formatters: Vec<_> =
            b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("fmt")).collect();
        for i in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(c, f)| {
                        if c.is_null(i) {
                            "NULL".to_string()
                        } else if c.data_type() == &DataType::Float64 {
                            format_float(c.as_primitive::<Float64Type>().value(i))
                        } else {
                            let s = f.value(i).to_string();
                            if s.is_empty() { "(empty)".to_string() } else { s }
                        }
                    })
                    .collect(),
            );
        }
    }
    rows
}

#[async_trait]
impl AsyncDB for TestDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let err = |e: datafusion::error::DataFusionError| SltError(self.engine.error_message(&e));
        let df = self.engine.sql(sql).await.map_err(err)?;
        let schema_width = df.schema().fields().len();
        let batches = run::collect(df).await.map_err(err)?;
        if schema_width == 0 {
            return Ok(DBOutput::StatementComplete(0));
        }
        let rows = render(&batches);
        let width = rows.first().map_or(schema_width, |r| r.len());
        Ok(DBOutput::Rows { types: vec![DefaultColumnType::Any; width], rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "fastcausal"
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let complete = std::env::var_os("FASTCAUSAL_SLT_COMPLETE").is_some();
    let filter = std::env::var("FASTCAUSAL_SLT_FILTER").unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace().join("tests/sql"))
        .expect("tests/sql exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(&filter)))
        .collect();
    files.sort();
    let configs: [(&str, usize, usize); 2] = [("1 partition", 1, 1), ("7 partitions", 7, 4)];
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        for (i, &(label, parts, target)) in configs.iter().enumerate() {
            let mut runner = Runner::new(move || async move { TestDb::new(parts, target).await });
            let name = file.file_name().expect("file name").to_string_lossy().to_string();
            let result = if complete && i == 0 {
                runner
                    .update_test_file(
                        file,
                        " ",
                        sqllogictest::default_validator,
                        sqllogictest::default_normalizer,
                        sqllogictest::default_column_validator,
                    )
                    .await
                    .map_err(|e| e.to_string())
            } else {
                runner.run_file_async(file).await.map_err(|e| e.display(true).to_string())
            };
            match result {
                Ok(()) => {
                    passed += 1;
                    println!("ok   {name} ({label})");
                }
                Err(e) => {
                    failed += 1;
                    println!("FAIL {name} ({label}):\n{e}");
                }
            }
        }
    }
    println!("sqllogictest: {passed} passed, {failed} failed");
    if failed == 0 && passed > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
