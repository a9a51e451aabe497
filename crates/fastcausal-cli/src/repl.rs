//! The interactive shell: statements end with ';' and may span lines; `\d` lists tables,
//! `\d NAME` shows a schema, `\describe NAME` summarises, `\q` quits. Ctrl-C at the prompt clears
//! the line; during a query it cancels the query and returns to the prompt.

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use crate::Failure;
use crate::print::{self, Printer};
use fastcausal_engine::Engine;

const HELP: &str = "\
Statements end with ';' and may span several lines.
  \\d              list tables
  \\d NAME         show the columns of a table (or file)
  \\describe NAME  summarise every column
  \\q              quit (or Ctrl-D)
Ctrl-C cancels a running query.";

fn history_path() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".fastcausal_history"))
}

pub async fn run(engine: &Engine) -> Result<(), Failure> {
    let mut editor = DefaultEditor::new().map_err(|e| Failure(format!("cannot start the line editor: {e}")))?;
    if let Some(p) = history_path() {
        let _ = editor.load_history(&p);
    }
    println!("fastcausal {} — type \\? for help, \\q to quit", env!("CARGO_PKG_VERSION"));
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() { "fastcausal> " } else { "        ... " };
        match editor.readline(prompt) {
            Ok(line) => {
                let trimmed = line.trim();
                if buffer.is_empty() && trimmed.starts_with('\\') {
                    let _ = editor.add_history_entry(trimmed);
                    if !command(engine, trimmed).await {
                        break;
                    }
                    continue;
                }
                if trimmed.is_empty() && buffer.is_empty() {
                    continue;
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if !trimmed.ends_with(';') {
                    continue;
                }
                let sql = std::mem::take(&mut buffer);
                let _ = editor.add_history_entry(sql.trim());
                run_cancellable(engine, &sql).await;
            }
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: {e}");
                break;
            }
        }
    }
    if let Some(p) = history_path() {
        let _ = editor.save_history(&p);
    }
    Ok(())
}

/// Runs statements until done or Ctrl-C; dropping the future stops DataFusion's execution.
async fn run_cancellable(engine: &Engine, sql: &str) {
    let started = std::time::Instant::now();
    let printer = Printer::table();
    tokio::select! {
        r = print::run_sql(engine, sql, &printer) => match r {
            Ok(()) => eprintln!("({:.3} s)", started.elapsed().as_secs_f64()),
            Err(Failure(msg)) => eprintln!("error: {msg}"),
        },
        _ = tokio::signal::ctrl_c() => eprintln!("cancelled"),
    }
}

/// A backslash command; false to quit.
async fn command(engine: &Engine, line: &str) -> bool {
    let mut parts = line.split_whitespace();
    let cmd = parts.next().unwrap_or_default();
    let arg = parts.next();
    let result = match (cmd, arg) {
        ("\\q" | "\\quit", _) => return false,
        ("\\?" | "\\h" | "\\help", _) => {
            println!("{HELP}");
            Ok(())
        }
        ("\\d", None) => match engine.warehouse() {
            Some(w) => print::tables(w),
            None => Ok(()),
        },
        ("\\d", Some(name)) => print::schema(engine, name).await,
        ("\\describe", Some(name)) => print::describe(engine, name, &Printer::table()).await,
        _ => Err(Failure(format!("unknown command {line}; \\? lists the commands"))),
    };
    if let Err(Failure(msg)) = result {
        eprintln!("error: {msg}");
    }
    true
}
