//! `fastcausal import`: a file (CSV, newline-delimited JSON, Parquet, Arrow IPC) or a glob or
//! directory of them becomes a named Parquet table in the [`Warehouse`].
//!
//! A single file is read with Arrow's own readers so that progress is exact (bytes read) and a
//! malformed value is reported with its line and column name. CSV and JSON schemas are inferred
//! from the whole file (a first pass), so a value late in the file cannot contradict a type
//! guessed from the first rows. Globs and directories are read through the engine. Either way
//! the table is written to a temporary file and committed atomically; an error or a
//! cancellation leaves the warehouse exactly as it was.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::csv::reader::Format as CsvFormat;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use futures::StreamExt;

use crate::error::{EngineError, EngineResult};
use crate::progress::{Cancel, Progress, Unit};
use crate::session::Engine;
use crate::sources::{FileKind, SourceOptions, csv_dialect, detect, expand};
use crate::warehouse::{PendingTable, TableEntry, Warehouse};
use futures::future::BoxFuture;

/// Rows per batch while importing.
const BATCH_ROWS: usize = 64 * 1024;

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The table name.
    pub table: String,
    /// Replace an existing table of that name.
    pub replace: bool,
    /// The format, when the file name does not tell it.
    pub format: Option<FileKind>,
    /// CSV overrides.
    pub source: SourceOptions,
}

/// Parquet writer properties used for every table fastcausal writes: Snappy-compressed
/// (the common default of Parquet tools), one row group per million rows.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder().set_compression(Compression::SNAPPY).set_max_row_group_row_count(Some(1 << 20)).build()
}

/// Imports `path` into `engine`'s warehouse.
pub fn import<'a>(
    engine: &'a Engine,
    path: &'a str,
    options: &'a ImportOptions,
    progress: Arc<dyn Progress>,
    cancel: Arc<Cancel>,
) -> BoxFuture<'a, EngineResult<TableEntry>> {
    Box::pin(async move {
        let warehouse = engine
            .warehouse()
            .cloned()
            .ok_or_else(|| EngineError::input(path, "this session has no warehouse to import into"))?;
        let single = Path::new(path).is_file();
        if !single {
            let files = expand(path).map_err(EngineError::from)?;
            if files.is_empty() {
                return Err(EngineError::input(path, "no such file, directory or matching files"));
            }
            return import_through_engine(engine, &warehouse, path, options, progress, cancel).await;
        }
        let kind = match options.format {
            Some(k) => k,
            None => detect(path).map(|d| d.kind).ok_or_else(|| {
                EngineError::input(path, "cannot tell the format from the file name; pass --format csv|json|parquet|arrow")
            })?,
        };
        let compression = detect(path).map_or(FileCompressionType::UNCOMPRESSED, |d| d.compression);
        let (warehouse, path_buf, options) = (warehouse.clone(), PathBuf::from(path), options.clone());
        tokio::task::spawn_blocking(move || {
            let mut pending = warehouse.begin(&options.table, options.replace)?;
            let rows = match kind {
                FileKind::Csv => {
                    import_csv(&path_buf, compression, &options.source, &mut pending, progress.as_ref(), &cancel)?
                }
                FileKind::Json => import_json(&path_buf, compression, &mut pending, progress.as_ref(), &cancel)?,
                FileKind::Parquet => import_parquet(&path_buf, &mut pending, progress.as_ref(), &cancel)?,
                FileKind::Arrow => import_arrow(&path_buf, &mut pending, progress.as_ref(), &cancel)?,
            };
            warehouse.commit(pending, rows, Some(path_buf.display().to_string()))
        })
        .await
        .map_err(|e| EngineError::input(path, format!("import task failed: {e}")))?
    })
}

/// Counts bytes read through it, reporting them as progress.
struct Counting<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

fn open(path: &Path) -> EngineResult<(File, u64)> {
    let f = File::open(path).map_err(|e| EngineError::io(path, e))?;
    let len = f.metadata().map_err(|e| EngineError::io(path, e))?.len();
    Ok((f, len))
}

/// A reader over the decompressed content, counting compressed bytes.
fn reader<'a>(
    path: &Path,
    compression: FileCompressionType,
    progress: &'a dyn Progress,
    message: &str,
) -> EngineResult<Box<dyn BufRead + 'a>> {
    let (f, len) = open(path)?;
    progress.begin(message, Some(len), Unit::Bytes);
    let counted = Counting { inner: f, progress };
    Ok(if compression == FileCompressionType::GZIP {
        Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(counted)))
    } else if compression == FileCompressionType::UNCOMPRESSED {
        Box::new(BufReader::with_capacity(1 << 20, counted))
    } else {
        return Err(EngineError::input(
            path,
            "only gzip-compressed CSV/JSON can be imported; decompress the file first",
        ));
    })
}

/// Writes batches to the pending table; returns the number of rows.
fn write_all(
    pending: &mut PendingTable,
    schema: SchemaRef,
    batches: impl Iterator<Item = EngineResult<RecordBatch>>,
    cancel: &Cancel,
    path: &Path,
) -> EngineResult<u64> {
    let file = pending.file().try_clone().map_err(|e| EngineError::io(path, e))?;
    let mut writer = ArrowWriter::try_new(file, schema, Some(writer_properties()))
        .map_err(|e| EngineError::input(path, e.to_string()))?;
    let mut rows = 0u64;
    for batch in batches {
        if cancel.is_cancelled() {
            return Err(EngineError::Interrupted);
        }
        let batch = batch?;
        rows += batch.num_rows() as u64;
        writer.write(&batch).map_err(|e| EngineError::input(path, e.to_string()))?;
    }
    writer.close().map_err(|e| EngineError::input(path, e.to_string()))?;
    Ok(rows)
}

/// Turns Arrow's CSV messages into "line N, column 'name': …".
fn csv_error(path: &Path, schema: Option<&SchemaRef>, has_header: bool, e: ArrowError) -> EngineError {
    let text = e.to_string();
    // "Error while parsing value 'x' as type 'Float64' for column 3 at line 17. Row data: '…'"
    if let Some(rest) = text.split("Error while parsing value '").nth(1)
        && let Some((value, rest)) = rest.split_once("' as type '")
        && let Some((ty, rest)) = rest.split_once("' for column ")
        && let Some((col, rest)) = rest.split_once(" at line ")
    {
        let line: usize = rest.split('.').next().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
        let col: usize = col.trim().parse().unwrap_or(0);
        let name = schema.and_then(|s| s.fields().get(col)).map_or(format!("#{}", col + 1), |f| f.name().clone());
        let line = line + usize::from(has_header);
        return EngineError::input(
            path,
            format!(
                "line {line}, column '{name}': '{value}' is not a valid {ty} (the type was inferred from the other values)"
            ),
        );
    }
    if let Some(rest) = text.split("incorrect number of fields for line ").nth(1) {
        let (line, detail) = rest.split_once(',').unwrap_or((rest, ""));
        let line: usize = line.trim().parse().unwrap_or(0);
        return EngineError::input(path, format!("line {line}: wrong number of fields ({})", detail.trim()));
    }
    EngineError::input(path, text)
}

fn import_csv(
    path: &Path,
    compression: FileCompressionType,
    source: &SourceOptions,
    pending: &mut PendingTable,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> EngineResult<u64> {
    let dialect = csv_dialect(path, compression, source).map_err(EngineError::from)?;
    let format = CsvFormat::default().with_header(dialect.has_header).with_delimiter(dialect.delimiter);
    let (schema, records) = format
        .infer_schema(reader(path, compression, progress, "scanning")?, None)
        .map_err(|e| csv_error(path, None, dialect.has_header, e))?;
    progress.finish();
    if schema.fields().is_empty() || (records == 0 && !dialect.has_header) {
        return Err(EngineError::input(path, "the file is empty"));
    }
    if cancel.is_cancelled() {
        return Err(EngineError::Interrupted);
    }
    let schema = Arc::new(schema);
    let csv = datafusion::arrow::csv::ReaderBuilder::new(Arc::clone(&schema))
        .with_format(format)
        .with_batch_size(BATCH_ROWS)
        .build_buffered(reader(path, compression, progress, "importing")?)
        .map_err(|e| EngineError::input(path, e.to_string()))?;
    let s = Arc::clone(&schema);
    let batches = csv.map(|b| b.map_err(|e| csv_error(path, Some(&s), dialect.has_header, e)));
    let rows = write_all(pending, schema, batches, cancel, path)?;
    progress.finish();
    Ok(rows)
}

/// Finds the first line that is not a JSON object, for a precise message.
fn json_syntax_error(path: &Path, compression: FileCompressionType) -> Option<EngineError> {
    let r = reader(path, compression, &crate::progress::NoProgress, "").ok()?;
    for (i, line) in r.lines().enumerate() {
        let line = line.ok()?;
        if line.trim().is_empty() {
            continue;
        }
        if let Err(e) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&line) {
            return Some(EngineError::input(
                path,
                format!("line {}, column {}: {} (each line must be one JSON object)", i + 1, e.column(), e),
            ));
        }
    }
    None
}

fn import_json(
    path: &Path,
    compression: FileCompressionType,
    pending: &mut PendingTable,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> EngineResult<u64> {
    let fail =
        |e: ArrowError| json_syntax_error(path, compression).unwrap_or_else(|| EngineError::input(path, e.to_string()));
    let (schema, _) =
        datafusion::arrow::json::reader::infer_json_schema(reader(path, compression, progress, "scanning")?, None)
            .map_err(fail)?;
    progress.finish();
    if schema.fields().is_empty() {
        return Err(EngineError::input(path, "no JSON objects found"));
    }
    let schema = Arc::new(schema);
    let json = datafusion::arrow::json::ReaderBuilder::new(Arc::clone(&schema))
        .with_batch_size(BATCH_ROWS)
        .build(reader(path, compression, progress, "importing")?)
        .map_err(fail)?;
    let rows = write_all(pending, schema, json.map(|b| b.map_err(fail)), cancel, path)?;
    progress.finish();
    Ok(rows)
}

fn import_parquet(
    path: &Path,
    pending: &mut PendingTable,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> EngineResult<u64> {
    let (f, _) = open(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| EngineError::input(path, e.to_string()))?;
    let total = builder.metadata().file_metadata().num_rows() as u64;
    let schema = Arc::clone(builder.schema());
    let reader = builder.with_batch_size(BATCH_ROWS).build().map_err(|e| EngineError::input(path, e.to_string()))?;
    progress.begin("importing", Some(total), Unit::Rows);
    let batches = reader.map(|b| {
        let b = b.map_err(|e| EngineError::input(path, e.to_string()))?;
        progress.advance(b.num_rows() as u64);
        Ok(b)
    });
    let rows = write_all(pending, schema, batches, cancel, path)?;
    progress.finish();
    Ok(rows)
}

fn import_arrow(
    path: &Path,
    pending: &mut PendingTable,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> EngineResult<u64> {
    let (mut f, len) = open(path)?;
    let mut magic = [0u8; 6];
    let is_file_format = f.read_exact(&mut magic).is_ok() && &magic == b"ARROW1";
    f.rewind().map_err(|e| EngineError::io(path, e))?;
    progress.begin("importing", Some(len), Unit::Bytes);
    let rows = if is_file_format {
        let r = datafusion::arrow::ipc::reader::FileReader::try_new(BufReader::new(f), None)
            .map_err(|e| EngineError::input(path, e.to_string()))?;
        let schema = r.schema();
        write_all(pending, schema, r.map(|b| b.map_err(|e| EngineError::input(path, e.to_string()))), cancel, path)?
    } else {
        let r = datafusion::arrow::ipc::reader::StreamReader::try_new(
            Counting { inner: BufReader::new(f), progress },
            None,
        )
        .map_err(|e| EngineError::input(path, e.to_string()))?;
        let schema = r.schema();
        write_all(pending, schema, r.map(|b| b.map_err(|e| EngineError::input(path, e.to_string()))), cancel, path)?
    };
    progress.finish();
    Ok(rows)
}

/// Globs and directories: read through the engine (`SELECT * FROM '<path>'`).
async fn import_through_engine(
    engine: &Engine,
    warehouse: &Warehouse,
    path: &str,
    options: &ImportOptions,
    progress: Arc<dyn Progress>,
    cancel: Arc<Cancel>,
) -> EngineResult<TableEntry> {
    let mut pending = warehouse.begin(&options.table, options.replace)?;
    let table = crate::sources::table_for_path(&engine.context().state(), path, &options.source)
        .await?
        .ok_or_else(|| EngineError::input(path, "no matching files"))?;
    let df = engine.context().read_table(table)?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let mut stream = df.execute_stream().await?;
    let file = pending.file().try_clone().map_err(|e| EngineError::io(path, e))?;
    let mut writer = ArrowWriter::try_new(file, schema, Some(writer_properties()))
        .map_err(|e| EngineError::input(path, e.to_string()))?;
    progress.begin("importing", None, Unit::Rows);
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        if cancel.is_cancelled() {
            return Err(EngineError::Interrupted);
        }
        let batch = batch?;
        rows += batch.num_rows() as u64;
        progress.advance(batch.num_rows() as u64);
        writer.write(&batch).map_err(|e| EngineError::input(path, e.to_string()))?;
    }
    writer.close().map_err(|e| EngineError::input(path, e.to_string()))?;
    progress.finish();
    Ok(warehouse.commit(pending, rows, Some(path.to_string()))?)
}
