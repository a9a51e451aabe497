//! Printing results: tables for people, CSV/JSON/Parquet for programs.

use std::io::Write;
use std::path::PathBuf;

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::dataframe::DataFrame;
use datafusion::parquet::arrow::ArrowWriter;
use fastcausal_engine::output::{flatten_structs, flattened_schema, format_float};
use fastcausal_engine::summary::render_regressions;
use fastcausal_engine::{Engine, Warehouse};

use crate::Failure;

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned table for reading.
    Table,
    /// CSV with a header row, full precision.
    Csv,
    /// A JSON array of objects, full precision.
    Json,
    /// A Parquet file (needs --output).
    Parquet,
}

/// Where and how to print results.
pub struct Printer {
    format: OutputFormat,
    output: Option<PathBuf>,
}

impl Printer {
    pub fn new(format: OutputFormat, output: Option<PathBuf>) -> Result<Self, Failure> {
        if format == OutputFormat::Parquet && output.is_none() {
            return Err(Failure("--format parquet needs --output FILE".into()));
        }
        Ok(Printer { format, output })
    }

    pub fn table() -> Self {
        Printer { format: OutputFormat::Table, output: None }
    }

    /// Writes one result (struct columns flattened).
    pub fn print(&self, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(), Failure> {
        let original = schema;
        let flat: Vec<RecordBatch> =
            batches.iter().map(flatten_structs).collect::<Result<_, _>>().map_err(|e| Failure(e.to_string()))?;
        let schema = flattened_schema(schema);
        let bytes = match self.format {
            OutputFormat::Table => match render_regressions(original, batches) {
                Some(text) => text.into_bytes(),
                None => render_table(&schema, &flat).into_bytes(),
            },
            OutputFormat::Csv => {
                let mut w = datafusion::arrow::csv::Writer::new(Vec::new());
                for b in &flat {
                    w.write(b).map_err(|e| Failure(e.to_string()))?;
                }
                if flat.is_empty() {
                    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                    return self.emit(format!("{}\n", names.join(",")).into_bytes());
                }
                w.into_inner()
            }
            OutputFormat::Json => {
                let mut w = datafusion::arrow::json::ArrayWriter::new(Vec::new());
                for b in &flat {
                    w.write(b).map_err(|e| Failure(e.to_string()))?;
                }
                w.finish().map_err(|e| Failure(e.to_string()))?;
                let mut out = w.into_inner();
                if out.is_empty() {
                    out.extend_from_slice(b"[]");
                }
                out.push(b'\n');
                out
            }
            OutputFormat::Parquet => {
                let mut buf = Vec::new();
                let mut w = ArrowWriter::try_new(&mut buf, schema, None).map_err(|e| Failure(e.to_string()))?;
                for b in &flat {
                    w.write(b).map_err(|e| Failure(e.to_string()))?;
                }
                w.close().map_err(|e| Failure(e.to_string()))?;
                buf
            }
        };
        self.emit(bytes)
    }

    /// To the output file (atomically) or standard output.
    fn emit(&self, bytes: Vec<u8>) -> Result<(), Failure> {
        match &self.output {
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(&bytes).and_then(|_| out.flush()).map_err(|e| Failure(format!("writing output: {e}")))
            }
            Some(path) => {
                let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
                let mut tmp =
                    tempfile::NamedTempFile::new_in(dir).map_err(|e| Failure(format!("{}: {e}", dir.display())))?;
                tmp.write_all(&bytes).map_err(|e| Failure(format!("{}: {e}", path.display())))?;
                tmp.persist(path).map_err(|e| Failure(format!("{}: {}", path.display(), e.error)))?;
                Ok(())
            }
        }
    }
}

/// An aligned table, numbers right-aligned.
pub fn render_table(schema: &SchemaRef, batches: &[RecordBatch]) -> String {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    table.set_header(schema.fields().iter().map(|f| Cell::new(f.name())));
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = 0;
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("displayable"))
            .collect();
        for i in 0..batch.num_rows() {
            rows += 1;
            let cells = batch.columns().iter().zip(&formatters).map(|(c, f)| {
                let numeric = c.data_type().is_numeric();
                let text = if c.is_null(i) {
                    "NULL".to_string()
                } else {
                    match c.data_type() {
                        DataType::Float64 => format_float(c.as_primitive::<Float64Type>().value(i)),
                        DataType::Float32 => format_float(c.as_primitive::<Float32Type>().value(i) as f64),
                        _ => f.value(i).to_string(),
                    }
                };
                let cell = Cell::new(text);
                if numeric { cell.set_alignment(CellAlignment::Right) } else { cell }
            });
            table.add_row(cells);
        }
    }
    format!("{table}\n{rows} row{}\n", if rows == 1 { "" } else { "s" })
}

/// Runs every statement, printing each query's result.
pub async fn run_sql(engine: &Engine, sql: &str, printer: &Printer) -> Result<(), Failure> {
    let statements = engine.parse(sql).map_err(|e| Failure(engine.error_message(&e)))?;
    if statements.is_empty() {
        return Err(Failure("no SQL statement given".into()));
    }
    for s in statements {
        let df = engine.execute(s).await.map_err(|e| Failure(engine.error_message(&e)))?;
        print_dataframe(engine, df, printer).await?;
    }
    Ok(())
}

/// Collects and prints one result (nothing for DDL).
pub async fn print_dataframe(engine: &Engine, df: DataFrame, printer: &Printer) -> Result<(), Failure> {
    let schema: SchemaRef = std::sync::Arc::new(df.schema().as_arrow().clone());
    let batches = fastcausal_engine::run::collect(df).await.map_err(|e| Failure(engine.error_message(&e)))?;
    if schema.fields().is_empty() {
        return Ok(());
    }
    printer.print(&schema, &batches)
}

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{b} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// Seconds since the epoch as "YYYY-MM-DD HH:MM UTC".
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

pub fn tables(warehouse: &Warehouse) -> Result<(), Failure> {
    let tables = warehouse.tables()?;
    if tables.is_empty() {
        println!(
            "the warehouse {} has no tables (fastcausal import FILE --table NAME, or fastcausal gen-data --rows N --table NAME)",
            warehouse.root().display()
        );
        return Ok(());
    }
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(vec!["table", "rows", "size", "created", "source"]);
    for (name, e) in &tables {
        t.add_row(vec![
            Cell::new(name),
            Cell::new(e.rows).set_alignment(CellAlignment::Right),
            Cell::new(human_bytes(e.bytes)).set_alignment(CellAlignment::Right),
            Cell::new(utc(e.created_unix)),
            Cell::new(e.source.clone().unwrap_or_default()),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// Resolves a table name, a path or a parenthesised query to a DataFrame.
pub async fn source(engine: &Engine, source: &str) -> Result<DataFrame, Failure> {
    let s = source.trim();
    let sql = if s.starts_with('(') {
        format!("SELECT * FROM {s} AS q")
    } else if s.to_lowercase().starts_with("select ") || s.to_lowercase().starts_with("with ") {
        format!("SELECT * FROM ({s}) AS q")
    } else {
        format!("SELECT * FROM \"{}\"", s.replace('"', "\"\""))
    };
    engine.sql(&sql).await.map_err(|e| Failure(engine.error_message(&e)))
}

pub async fn schema(engine: &Engine, name: &str) -> Result<(), Failure> {
    let df = source(engine, name).await?;
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(vec!["column", "type", "nullable"]);
    for f in df.schema().fields() {
        t.add_row(vec![f.name().clone(), f.data_type().to_string(), f.is_nullable().to_string()]);
    }
    println!("{t}");
    Ok(())
}

pub async fn describe(engine: &Engine, src: &str, printer: &Printer) -> Result<(), Failure> {
    let df = source(engine, src).await?;
    let batch =
        fastcausal_engine::describe::describe(engine, df).await.map_err(|e| Failure(engine.error_message(&e)))?;
    printer.print(&batch.schema(), &[batch])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13 UTC");
    }
}
