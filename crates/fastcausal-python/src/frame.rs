//! [`Frame`]: a lazy data frame of the engine, and what Python asks of it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::dataframe::DataFrame;
use datafusion::parquet::arrow::ArrowWriter;
use fastcausal_engine::Engine;
use fastcausal_engine::error::closest;
use fastcausal_engine::output::{flatten_structs, flattened_schema};
use futures::StreamExt;
use pyo3::prelude::*;
use pyo3_arrow::{PySchema, PyTable};

use crate::{ARROW_BATCH_ROWS, py_error, py_message, run};

/// A lazy table: a DataFusion plan over files, warehouse tables or Arrow data from Python.
/// Nothing runs until its rows are asked for.
#[pyclass(frozen, module = "fastcausal._internal")]
pub struct Frame {
    engine: Engine,
    df: DataFrame,
    /// The name of the view of this frame, once SQL has referred to it.
    view: OnceLock<String>,
}

impl Frame {
    pub(crate) fn new(engine: Engine, df: DataFrame) -> Self {
        Frame { engine, df, view: OnceLock::new() }
    }

    fn derive(&self, df: DataFrame) -> Frame {
        Frame::new(self.engine.clone(), df)
    }

    fn arrow_schema(&self) -> SchemaRef {
        SchemaRef::new(self.df.schema().as_arrow().clone())
    }

    /// Every named column exists, or an error naming the one that does not and the closest.
    fn check_columns(&self, names: &[String]) -> PyResult<()> {
        let schema = self.arrow_schema();
        let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        for name in names {
            if !have.contains(&name.as_str()) {
                let hint =
                    closest(name, have.iter().copied()).map(|c| format!("; did you mean '{c}'?")).unwrap_or_default();
                return Err(py_message(format!("no column '{name}'{hint} (columns: {})", have.join(", "))));
            }
        }
        Ok(())
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        if let Some(name) = self.view.get() {
            // The view is only a name for SQL written against this frame; plans made from that
            // SQL hold the view itself, so they outlive the name.
            let _ = self.engine.context().deregister_table(name.as_str());
        }
    }
}

/// Flushes a finished temporary file and renames it to `path`, replacing any file there.
fn finish_file(tmp: tempfile::NamedTempFile, path: &Path) -> PyResult<()> {
    tmp.as_file().sync_all().map_err(|e| py_message(format!("{}: {e}", tmp.path().display())))?;
    tmp.persist(path).map_err(|e| py_message(format!("{}: {}", path.display(), e.error)))?;
    Ok(())
}

#[pymethods]
impl Frame {
    /// The name SQL uses for this frame: a view registered in the session while the frame lives.
    fn name(&self) -> PyResult<String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        if let Some(name) = self.view.get() {
            return Ok(name.clone());
        }
        let name = format!("__fastcausal_frame_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.engine
            .context()
            .register_table(name.as_str(), self.df.clone().into_view())
            .map_err(|e| py_error(&self.engine, e))?;
        // Frames are frozen and `name` may race with itself on two threads: keep the first name
        // and drop the other's view.
        if let Err(name) = self.view.set(name) {
            let _ = self.engine.context().deregister_table(name.as_str());
        }
        Ok(self.view.get().expect("set above").clone())
    }

    /// The column names, in order.
    fn columns(&self) -> Vec<String> {
        self.df.schema().fields().iter().map(|f| f.name().clone()).collect()
    }

    /// The Arrow schema (`pyarrow.schema(frame.schema())` reads it).
    fn schema(&self) -> PySchema {
        PySchema::new(self.arrow_schema())
    }

    /// Runs the plan and returns every row as an Arrow table (its buffers handed to Python
    /// without copying), the plan's partitions one after the other: a frame of rows from Python
    /// or from files, selected or filtered, comes back in its order.
    ///
    /// A plan that passes rows through runs with batches of at least [`ARROW_BATCH_ROWS`] rows
    /// ([`collect_in_order`](fastcausal_engine::run::collect_in_order)): each batch costs
    /// pyarrow an import of every column and pandas a chunk to stitch, so 8,192-row batches (the
    /// engine's default) made a 10M × 17 frame's `to_pandas` 1.7× pyarrow's own conversion.
    fn to_arrow(&self, py: Python<'_>) -> PyResult<PyTable> {
        let (engine, df) = (self.engine.clone(), self.df.clone());
        let batches = run(py, async move {
            fastcausal_engine::run::collect_in_order(df, ARROW_BATCH_ROWS).await.map_err(|e| py_error(&engine, e))
        })?;
        let schema = batches.first().map_or_else(|| self.arrow_schema(), RecordBatch::schema);
        PyTable::try_new(batches, schema)
    }

    /// The number of rows.
    fn count(&self, py: Python<'_>) -> PyResult<usize> {
        let (engine, df) = (self.engine.clone(), self.df.clone());
        run(py, async move { fastcausal_engine::run::count(df).await.map_err(|e| py_error(&engine, e)) })
    }

    /// The logical and physical plans as text; with `analyze`, runs the query and shows what each
    /// operator did.
    #[pyo3(signature = (verbose=false, analyze=false))]
    fn explain(&self, py: Python<'_>, verbose: bool, analyze: bool) -> PyResult<String> {
        let (engine, df) = (self.engine.clone(), self.df.clone());
        let batches = run(py, async move {
            let explained = df.explain(verbose, analyze).map_err(|e| py_error(&engine, e))?;
            fastcausal_engine::run::collect(explained).await.map_err(|e| py_error(&engine, e))
        })?;
        let mut out = String::new();
        for b in &batches {
            let (kind, plan) = (b.column(0).as_string::<i32>(), b.column(1).as_string::<i32>());
            for i in 0..b.num_rows() {
                out.push_str(&format!("{}:\n{}\n\n", kind.value(i), plan.value(i)));
            }
        }
        Ok(out.trim_end().to_string())
    }

    /// A summary of every column (count, mean, std, min, quartiles, max, distinct).
    fn describe(&self, py: Python<'_>) -> PyResult<PyTable> {
        let (engine, df) = (self.engine.clone(), self.df.clone());
        let batch = run(py, async move {
            fastcausal_engine::describe::describe(&engine, df).await.map_err(|e| py_error(&engine, e))
        })?;
        PyTable::try_new(vec![batch.clone()], batch.schema())
    }

    /// The frame with column `old` called `new`.
    fn with_column_renamed(&self, old: String, new: &str) -> PyResult<Frame> {
        self.check_columns(std::slice::from_ref(&old))?;
        let df = self.df.clone().with_column_renamed(old.as_str(), new).map_err(|e| py_error(&self.engine, e))?;
        Ok(self.derive(df))
    }

    /// The frame without `columns`.
    fn drop(&self, columns: Vec<String>) -> PyResult<Frame> {
        self.check_columns(&columns)?;
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        let df = self.df.clone().drop_columns(&names).map_err(|e| py_error(&self.engine, e))?;
        Ok(self.derive(df))
    }

    /// At most `n` rows, after skipping `offset`.
    #[pyo3(signature = (n, offset=0))]
    fn limit(&self, n: usize, offset: usize) -> PyResult<Frame> {
        let df = self.df.clone().limit(offset, Some(n)).map_err(|e| py_error(&self.engine, e))?;
        Ok(self.derive(df))
    }

    /// The rows of both frames (columns matched by position, as SQL's UNION ALL); with
    /// `distinct`, without duplicates.
    #[pyo3(signature = (other, distinct=false))]
    fn union(&self, other: &Frame, distinct: bool) -> PyResult<Frame> {
        let (a, b) = (self.columns(), other.columns());
        if a.len() != b.len() {
            return Err(py_message(format!(
                "union needs frames with as many columns: {} ({}) vs {} ({})",
                a.len(),
                a.join(", "),
                b.len(),
                b.join(", ")
            )));
        }
        let (left, right) = (self.df.clone(), other.df.clone());
        let df = if distinct { left.union_distinct(right) } else { left.union(right) };
        Ok(self.derive(df.map_err(|e| py_error(&self.engine, e))?))
    }

    /// Writes the rows to `path` as "parquet" (snappy) or "csv" (with a header), in the frame's
    /// order where it has one; the file appears only when complete (written beside it, then
    /// renamed). Returns the rows written.
    fn write(&self, py: Python<'_>, path: PathBuf, format: &str) -> PyResult<u64> {
        let parquet = match format {
            "parquet" => true,
            "csv" => false,
            other => return Err(py_message(format!("cannot write '{other}': use parquet or csv"))),
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (engine, df, schema) = (self.engine.clone(), self.df.clone(), self.arrow_schema());
        run(py, async move {
            let fail = |e: &dyn std::fmt::Display| py_message(format!("writing {}: {e}", path.display()));
            let mut tmp = tempfile::Builder::new()
                .prefix(".fastcausal-")
                .suffix(".tmp")
                .tempfile_in(&dir)
                .map_err(|e| fail(&e))?;
            let mut stream = fastcausal_engine::run::execute_stream_in_order(df).await.map_err(|e| py_error(&engine, e))?;
            let mut rows = 0u64;
            if parquet {
                let props = fastcausal_engine::import::writer_properties();
                let mut w = ArrowWriter::try_new(tmp.as_file_mut(), schema, Some(props)).map_err(|e| fail(&e))?;
                while let Some(batch) = stream.next().await {
                    let batch = batch.map_err(|e| py_error(&engine, e))?;
                    rows += batch.num_rows() as u64;
                    w.write(&batch).map_err(|e| fail(&e))?;
                }
                w.close().map_err(|e| fail(&e))?;
            } else {
                let mut w = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(tmp.as_file_mut());
                let mut any = false;
                while let Some(batch) = stream.next().await {
                    // CSV has no structs: a statistic's fields become columns, as on the command line.
                    let batch = batch.and_then(|b| flatten_structs(&b)).map_err(|e| py_error(&engine, e))?;
                    rows += batch.num_rows() as u64;
                    any = true;
                    w.write(&batch).map_err(|e| fail(&e))?;
                }
                drop(w);
                if !any {
                    let flat = flattened_schema(&schema);
                    let names: Vec<&str> = flat.fields().iter().map(|f| f.name().as_str()).collect();
                    writeln!(tmp.as_file_mut(), "{}", names.join(",")).map_err(|e| fail(&e))?;
                }
            }
            finish_file(tmp, &path)?;
            Ok(rows)
        })
    }
}
