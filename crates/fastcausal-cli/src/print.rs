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

/// Whether a struct type is a model result (`ols`, `wls`, `iv`, …).
fn is_regression(t: &DataType) -> bool {
    match t {
        DataType::Struct(fields) => {
            ["formula", "coefficients", "cov_type"].iter().all(|n| fields.iter().any(|f| f.name() == n))
        }
        _ => false,
    }
}

fn float_at(a: &dyn Array, i: usize) -> Option<f64> {
    (!a.is_null(i)).then(|| a.as_primitive::<Float64Type>().value(i))
}

/// A p-value as R prints it: small ones as `<2e-16`.
fn format_p(p: Option<f64>) -> String {
    match p {
        None => String::new(),
        Some(p) if p < 2e-16 => "<2e-16".into(),
        Some(p) if p < 1e-4 => format!("{p:.2e}"),
        Some(p) => format!("{p:.4}"),
    }
}

/// Results holding regressions, as R/statsmodels-style summaries (one per row; the row's other
/// columns, such as GROUP BY keys, head each). `None` when no column is a regression.
pub fn render_regressions(schema: &SchemaRef, batches: &[RecordBatch]) -> Option<String> {
    let index = schema.fields().iter().position(|f| is_regression(f.data_type()))?;
    let options = FormatOptions::default().with_null("NULL");
    let mut out = String::new();
    for batch in batches {
        let model = batch.column(index).as_struct();
        let field = |name: &str| model.column_by_name(name).expect("regression field").as_ref();
        for i in 0..batch.num_rows() {
            let heading: Vec<String> = schema
                .fields()
                .iter()
                .enumerate()
                .filter(|(j, f)| *j != index && !is_regression(f.data_type()))
                .map(|(j, f)| {
                    let c = batch.column(j);
                    let v = ArrayFormatter::try_new(c.as_ref(), &options).map(|fmt| fmt.value(i).to_string());
                    format!("{} = {}", f.name(), v.unwrap_or_default())
                })
                .collect();
            if !heading.is_empty() {
                out += &format!("── {} ──\n", heading.join(", "));
            }
            if model.is_null(i) {
                out += "no rows\n\n";
                continue;
            }
            let text = |name: &str| field(name).as_string::<i32>().value(i).to_owned();
            let float = |name: &str| float_at(field(name), i);
            let show = |x: Option<f64>| x.map(format_float).unwrap_or_else(|| "NULL".into());
            let n = field("n").as_primitive::<datafusion::arrow::datatypes::Int64Type>().value(i);
            out += &format!("{}    n = {n}, covariance: {}\n", text("formula"), text("cov_type"));
            let rows = field("coefficients").as_list::<i32>().value(i);
            let rows = rows.as_struct();
            let has = |name: &str| model.column_by_name(name).is_some();
            // Maximum-likelihood models report z statistics.
            let statistic = if has("pseudo_r_squared") { "z_value" } else { "t_value" };
            let mut table = Table::new();
            table.load_style(comfy_table::presets::NOTHING);
            table.set_header(["", "estimate", "std_error", statistic, "p_value", "ci_lower", "ci_upper"]);
            for r in 0..rows.len() {
                let term = rows.column(0).as_string::<i32>().value(r).to_owned();
                let mut cells = vec![Cell::new(term)];
                for c in 1..7 {
                    let v = float_at(rows.column(c).as_ref(), r);
                    let t = if c == 4 { format_p(v) } else { v.map(format_float).unwrap_or_default() };
                    cells.push(Cell::new(t).set_alignment(CellAlignment::Right));
                }
                table.add_row(cells);
            }
            out += &format!("{table}\n");
            if has("dropped") {
                let dropped = field("dropped").as_list::<i32>().value(i);
                if !dropped.is_empty() {
                    let names: Vec<&str> = dropped.as_string::<i32>().iter().flatten().collect();
                    out += &format!("Dropped as collinear with earlier terms: {}\n", names.join(", "));
                }
            }
            if has("residual_std_error") {
                out += &format!(
                    "Residual standard error: {} on {} degrees of freedom\n",
                    show(float("residual_std_error")),
                    show(float("df_resid"))
                );
            }
            if has("r_squared") {
                out += &format!("R-squared: {}", show(float("r_squared")));
                if has("adj_r_squared") {
                    out += &format!(", adjusted R-squared: {}", show(float("adj_r_squared")));
                }
                out += "\n";
            }
            if has("pseudo_r_squared") {
                out += &format!(
                    "Pseudo R-squared (McFadden): {}, AUC: {}\nLikelihood-ratio chi-square: {} on {} DF, p-value: {} (null log-likelihood {})\n",
                    show(float("pseudo_r_squared")),
                    show(float("auc")),
                    show(float("llr")),
                    show(float("df_model")),
                    format_p(float("llr_p_value")),
                    show(float("ll_null"))
                );
                let iterations = field("iterations").as_primitive::<datafusion::arrow::datatypes::Int64Type>().value(i);
                if field("converged").as_boolean().value(i) {
                    out += &format!("Converged in {iterations} Newton steps\n");
                } else {
                    out += &format!("Warning: not converged after {iterations} Newton steps\n");
                }
            }
            if has("f_statistic")
                && let Some(f) = float("f_statistic")
            {
                out += &format!(
                    "F-statistic: {} on {} and {} DF, p-value: {}\n",
                    format_float(f),
                    show(float("df_model")),
                    show(float("df_resid")),
                    format_p(float("f_p_value"))
                );
            }
            if has("wald_statistic")
                && let Some(w) = float("wald_statistic")
            {
                out += &format!(
                    "Wald chi-square: {} on {} DF, p-value: {}\n",
                    format_float(w),
                    show(float("wald_df")),
                    format_p(float("wald_p_value"))
                );
            }
            if has("first_stage") {
                let stages = field("first_stage").as_list::<i32>().value(i);
                let stages = stages.as_struct();
                let stage =
                    |name: &str, r: usize| float_at(stages.column_by_name(name).expect("stage field").as_ref(), r);
                for r in 0..stages.len() {
                    let name = stages.column_by_name("endogenous").expect("stage field").as_string::<i32>().value(r);
                    out += &format!(
                        "First stage of {name}: partial R-squared {}, F {} on {} and {} DF, p-value: {}\n",
                        show(stage("partial_r_squared", r)),
                        show(stage("f_statistic", r)),
                        show(stage("df_num", r)),
                        show(stage("df_denom", r)),
                        format_p(stage("f_p_value", r))
                    );
                }
                if has("weak_instruments") && field("weak_instruments").as_boolean().value(i) {
                    out += "Weak instruments: a first-stage F is below 10, so estimates and errors are unreliable\n";
                }
            }
            if has("log_likelihood") {
                out += &format!(
                    "Log-likelihood: {}, AIC: {}, BIC: {}\n",
                    show(float("log_likelihood")),
                    show(float("aic")),
                    show(float("bic"))
                );
            }
            out += "\n";
        }
    }
    Some(out)
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
    let batches = df.collect().await.map_err(|e| Failure(engine.error_message(&e)))?;
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
