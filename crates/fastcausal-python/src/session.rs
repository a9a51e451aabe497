//! [`Session`]: an engine for Python, with a warehouse or without.

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::datasource::MemTable;
use fastcausal_engine::sources::{FileKind, SourceOptions, table_for_path};
use fastcausal_engine::{Engine, Warehouse};
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;

use crate::frame::Frame;
use crate::{ARROW_BATCH_ROWS, py_error, py_message, run};


/// A fastcausal engine: reads files and Arrow data, runs SQL, resolves warehouse tables.
#[pyclass(frozen, module = "fastcausal._internal")]
pub struct Session {
    engine: Engine,
}

#[pymethods]
impl Session {
    /// A session over the warehouse at `warehouse` (a directory, created on first write), or
    /// over none.
    #[new]
    #[pyo3(signature = (warehouse=None))]
    fn new(warehouse: Option<PathBuf>) -> Self {
        Session { engine: Engine::new(warehouse.map(Warehouse::new), SourceOptions::default()) }
    }

    /// The warehouse directory, if any.
    #[getter]
    fn warehouse(&self) -> Option<PathBuf> {
        self.engine.warehouse().map(|w| w.root().to_path_buf())
    }

    /// Runs every statement of `query` and returns the last one's result, lazily for a query
    /// (DDL and `CREATE MODEL` take effect now).
    fn sql(&self, py: Python<'_>, query: &str) -> PyResult<Frame> {
        let engine = self.engine.clone();
        let frames = run(py, async move { engine.sql_all(query).await.map_err(|e| py_error(&engine, e)) })?;
        let df = frames.into_iter().last().ok_or_else(|| py_message("no SQL statement given"))?;
        Ok(Frame::new(self.engine.clone(), df))
    }

    /// The files at `path` (a file, glob or directory) as a frame. `format` is "parquet",
    /// "csv", "json" or "arrow", or None to go by the file name; `delimiter` and `has_header`
    /// override what is sniffed from a CSV file.
    #[pyo3(signature = (path, format=None, delimiter=None, has_header=None))]
    fn read(
        &self,
        py: Python<'_>,
        path: &str,
        format: Option<&str>,
        delimiter: Option<&str>,
        has_header: Option<bool>,
    ) -> PyResult<Frame> {
        let format = format
            .map(|f| match f.to_ascii_lowercase().as_str() {
                "parquet" => Ok(FileKind::Parquet),
                "csv" => Ok(FileKind::Csv),
                "json" | "ndjson" => Ok(FileKind::Json),
                "arrow" | "ipc" | "feather" => Ok(FileKind::Arrow),
                other => Err(py_message(format!("unknown format '{other}': use parquet, csv, json or arrow"))),
            })
            .transpose()?;
        let csv_delimiter = match delimiter {
            None => None,
            Some(d) if d.len() == 1 => Some(d.as_bytes()[0]),
            Some(d) => return Err(py_message(format!("a CSV delimiter is one character (an ASCII byte), not {d:?}"))),
        };
        let options = SourceOptions { csv_delimiter, csv_has_header: has_header, format };
        let engine = self.engine.clone();
        let path = path.to_string();
        let df = run(py, async move {
            let table = table_for_path(&engine.context().state(), &path, &options)
                .await
                .map_err(|e| py_error(&engine, e))?
                .ok_or_else(|| py_message(format!("no file matches '{path}'")))?;
            engine.context().read_table(table).map_err(|e| py_error(&engine, e))
        })?;
        Ok(Frame::new(self.engine.clone(), df))
    }

    /// Arrow data from Python (anything with `__arrow_c_stream__` or `__arrow_c_array__`: a
    /// pyarrow Table or RecordBatch, a polars DataFrame, …) as a frame, without copying it
    /// (see [`partition_rows`]).
    fn from_arrow(&self, data: AnyRecordBatch) -> PyResult<Frame> {
        let (batches, schema) = data.into_table()?.into_inner();
        let partitions = self.engine.context().state().config().target_partitions();
        let parts = partition_rows(&schema, batches, partitions).map_err(|e| py_message(e.to_string()))?;
        let table = MemTable::try_new(schema, parts).map_err(|e| py_error(&self.engine, e))?;
        let df = self.engine.context().read_table(Arc::new(table)).map_err(|e| py_error(&self.engine, e))?;
        Ok(Frame::new(self.engine.clone(), df))
    }

    /// A table of the warehouse (or a file path) by name.
    fn table(&self, py: Python<'_>, name: &str) -> PyResult<Frame> {
        // Through SQL, so that an unknown name gets the engine's message (the closest names).
        self.sql(py, &format!("SELECT * FROM \"{}\"", name.replace('"', "\"\"")))
    }

    /// The warehouse's table names, sorted.
    fn tables(&self) -> PyResult<Vec<String>> {
        let Some(w) = self.engine.warehouse() else { return Ok(Vec::new()) };
        Ok(w.tables().map_err(|e| py_message(e.to_string()))?.into_keys().collect())
    }
}

/// Cuts a table into `partitions` runs of consecutive rows, each run a list of slices (views, not
/// copies) of at most [`ARROW_BATCH_ROWS`] rows, so that scans run on every core and reading the
/// partitions in order gives the rows in their order.
///
/// A table of at most [`ARROW_BATCH_ROWS`] rows becomes one partition of one batch (copied
/// together if it came in several, which for so few rows costs microseconds): the planner deals a
/// lone partition's batches round-robin to the cores, which would shuffle several.
fn partition_rows(
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
    partitions: usize,
) -> Result<Vec<Vec<RecordBatch>>, ArrowError> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows <= ARROW_BATCH_ROWS {
        let batch = if batches.len() == 1 { batches.into_iter().next() } else { Some(concat_batches(schema, &batches)?) };
        return Ok(vec![batch.into_iter().collect()]);
    }
    let per_partition = rows.div_ceil(partitions.max(1));
    let mut parts: Vec<Vec<RecordBatch>> = Vec::new();
    let mut room = 0; // rows the last partition still takes
    for batch in batches {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if room == 0 {
                parts.push(Vec::new());
                room = per_partition;
            }
            let len = (batch.num_rows() - offset).min(room).min(ARROW_BATCH_ROWS);
            parts.last_mut().expect("pushed above").push(batch.slice(offset, len));
            offset += len;
            room -= len;
        }
    }
    Ok(parts)
}
