//! `fastcausal`: experiment analysis and causal inference from the command line.
//!
//! A thin front end over `fastcausal-engine`: each subcommand parses its arguments, calls the
//! engine, and prints. See `fastcausal --help` and the README.

mod demo;
mod print;
mod progress_bar;
mod repl;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use fastcausal_engine::import::{ImportOptions, import};
use fastcausal_engine::progress::{Cancel, Progress};
use fastcausal_engine::sources::FileKind;
use fastcausal_engine::{Engine, EngineError, SourceOptions, Warehouse};

use crate::print::{OutputFormat, Printer};

/// mimalloc, as DataFusion's own CLI uses: Arrow allocates and frees large buffers per batch,
/// which the system allocator returns to the kernel and faults back in.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use crate::progress_bar::Bar;

#[derive(Parser)]
#[command(name = "fastcausal", version, about = "Experiment analysis and causal inference in SQL, fast.", long_about = None)]
struct Cli {
    /// Warehouse directory holding named tables.
    #[arg(long, global = true, env = "FASTCAUSAL_WAREHOUSE", default_value = ".fastcausal")]
    warehouse: PathBuf,
    /// CSV delimiter when reading CSV files (default: detected).
    #[arg(long, global = true, value_parser = parse_delimiter)]
    delimiter: Option<u8>,
    /// Whether CSV files have a header row (default: detected).
    #[arg(long, global = true)]
    header: Option<bool>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run SQL statements and print the results.
    Sql {
        /// One or more statements separated by ';'.
        query: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Interactive SQL shell (history, multi-line statements, \d, \q; Ctrl-C cancels a query).
    Repl,
    /// Import a CSV, JSON, Parquet or Arrow file (or a glob or directory of them) as a table.
    Import {
        /// The file, glob ('data/*.csv') or directory.
        file: String,
        /// The table name.
        #[arg(long)]
        table: String,
        /// The format, if the file name does not tell it.
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// Replace an existing table of that name.
        #[arg(long)]
        replace: bool,
    },
    /// List the warehouse's tables.
    Tables,
    /// Show a table's columns and types.
    Schema {
        /// A table name or file path.
        name: String,
    },
    /// Summarise every column of a table, file or query (count, NULLs, mean, std, quartiles…).
    Describe {
        /// A table name, a file path, or a query in parentheses.
        source: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Remove a table from the warehouse.
    Drop {
        /// The table name.
        name: String,
    },
    /// List the stored models and their versions (CREATE MODEL name AS SELECT ols(…) FROM …).
    Models,
    /// Print a stored model's JSON document.
    Model {
        /// The model name.
        name: String,
        /// The version (default: the latest).
        #[arg(long)]
        version: Option<u32>,
    },
    /// Remove a stored model and all its versions.
    DropModel {
        /// The model name.
        name: String,
    },
    /// Generate the synthetic A/B-test and observational data set.
    GenData {
        /// Number of rows.
        #[arg(long)]
        rows: u64,
        /// Random seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Write a Parquet file.
        #[arg(long, conflicts_with = "table", required_unless_present = "table")]
        out: Option<PathBuf>,
        /// Write a warehouse table.
        #[arg(long)]
        table: Option<String>,
        /// Replace an existing table of that name.
        #[arg(long)]
        replace: bool,
    },
    /// The main job: generate 1M rows (once) and print an analysis of them.
    Demo {
        /// Rows to generate.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// The warehouse table to use.
        #[arg(long, default_value = "demo")]
        table: String,
    },
}

#[derive(clap::Args)]
struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
    /// Write to this file instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Csv,
    Json,
    Parquet,
    Arrow,
}

fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "\\t" | "tab" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => Err(format!("the delimiter must be one ASCII character (or \\t), not '{s}'")),
    }
}

/// An error to print: one line, exit code 1.
pub struct Failure(pub String);

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure(match e {
            EngineError::DataFusion(e) => fastcausal_engine::user_message(&e),
            other => other.to_string(),
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Raises `cancel` on Ctrl-C for the lifetime of the returned task.
fn cancel_on_ctrl_c() -> (Arc<Cancel>, tokio::task::JoinHandle<()>) {
    let cancel = Arc::new(Cancel::new());
    let c = Arc::clone(&cancel);
    let handle = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c.cancel();
        }
    });
    (cancel, handle)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let options = SourceOptions { csv_delimiter: cli.delimiter, csv_has_header: cli.header, format: None };
    let warehouse = Warehouse::new(cli.warehouse.clone());
    let engine = Engine::new(Some(warehouse.clone()), options.clone());
    match cli.command {
        Command::Sql { query, output } => {
            let printer = Printer::new(output.format, output.output)?;
            print::run_sql(&engine, &query, &printer).await
        }
        Command::Repl => repl::run(&engine).await,
        Command::Import { file, table, format, replace } => {
            let format = format.map(|f| match f {
                FormatArg::Csv => FileKind::Csv,
                FormatArg::Json => FileKind::Json,
                FormatArg::Parquet => FileKind::Parquet,
                FormatArg::Arrow => FileKind::Arrow,
            });
            let opts = ImportOptions { table: table.clone(), replace, format, source: options };
            let (cancel, guard) = cancel_on_ctrl_c();
            let progress: Arc<dyn Progress> = Arc::new(Bar::new());
            let result = import(&engine, &file, &opts, progress, cancel).await;
            guard.abort();
            let entry = result?;
            println!("imported {} rows into table '{table}' ({})", entry.rows, print::human_bytes(entry.bytes));
            Ok(())
        }
        Command::Tables => print::tables(&warehouse),
        Command::Schema { name } => print::schema(&engine, &name).await,
        Command::Describe { source, output } => {
            let printer = Printer::new(output.format, output.output)?;
            print::describe(&engine, &source, &printer).await
        }
        Command::Drop { name } => {
            warehouse.drop_table(&name)?;
            println!("dropped table '{name}'");
            Ok(())
        }
        Command::Models => {
            let models = warehouse.models()?;
            if models.is_empty() {
                println!("no models in {} (CREATE MODEL name AS SELECT ols(…) FROM …)", warehouse.root().display());
            }
            for (name, versions) in models {
                let (latest, doc) = warehouse.load_model(&name, None)?;
                println!("{name}  v{latest} ({} versions)  {}('{}')", versions.len(), doc.function, doc.formula);
            }
            Ok(())
        }
        Command::Model { name, version } => {
            let (_, doc) = warehouse.load_model(&name, version)?;
            println!("{}", serde_json::to_string_pretty(&doc).expect("a model document serialises"));
            Ok(())
        }
        Command::DropModel { name } => {
            let versions = warehouse.drop_model(&name)?;
            println!("dropped model '{name}' ({} versions)", versions.len());
            Ok(())
        }
        Command::GenData { rows, seed, out, table, replace } => {
            let (cancel, guard) = cancel_on_ctrl_c();
            let started = std::time::Instant::now();
            let result = tokio::task::spawn_blocking(move || -> Result<String, EngineError> {
                let bar = Bar::new();
                match (out, table) {
                    (Some(path), _) => {
                        fastcausal_engine::gen_data::generate_to_file(&path, rows, seed, &bar, &cancel)?;
                        Ok(path.display().to_string())
                    }
                    (None, Some(name)) => {
                        fastcausal_engine::gen_data::generate_to_table(
                            &warehouse, &name, replace, rows, seed, &bar, &cancel,
                        )?;
                        Ok(format!("table '{name}'"))
                    }
                    (None, None) => unreachable!("clap requires --out or --table"),
                }
            })
            .await
            .map_err(|e| Failure(format!("generation failed: {e}")))?;
            guard.abort();
            let target = result?;
            println!("wrote {rows} rows to {target} in {:.2} s", started.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Demo { rows, table } => demo::run(&engine, &warehouse, rows, &table).await,
    }
}
