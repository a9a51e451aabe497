//! `fastcausal demo`: the main job. Generates the data set into the warehouse once, then prints
//! an analysis of it. Each capability of fastcausal adds its section here.

use std::time::Instant;

use fastcausal_engine::progress::Cancel;
use fastcausal_engine::{Engine, Warehouse};

use crate::Failure;
use crate::print::{self, Printer};
use crate::progress_bar::Bar;

fn heading(title: &str) {
    println!("\n== {title} ==\n");
}

async fn section(engine: &Engine, title: &str, explain: &str, sql: &str) -> Result<(), Failure> {
    heading(title);
    if !explain.is_empty() {
        println!("{explain}\n");
    }
    println!("{}\n", sql.trim());
    let started = Instant::now();
    print::run_sql(engine, sql, &Printer::table()).await?;
    println!("({:.3} s)", started.elapsed().as_secs_f64());
    Ok(())
}

pub async fn run(engine: &Engine, warehouse: &Warehouse, rows: u64, table: &str) -> Result<(), Failure> {
    let existing = warehouse.table(table)?;
    if existing.as_ref().is_none_or(|e| e.rows != rows) {
        println!("generating {rows} rows into table '{table}' of the warehouse {} (once)…", warehouse.root().display());
        let (w, t) = (warehouse.clone(), table.to_string());
        let started = Instant::now();
        tokio::task::spawn_blocking(move || {
            fastcausal_engine::gen_data::generate_to_table(&w, &t, true, rows, 0, &Bar::new(), &Cancel::new())
        })
        .await
        .map_err(|e| Failure(format!("generation failed: {e}")))??;
        println!("done in {:.2} s", started.elapsed().as_secs_f64());
    } else {
        println!("using table '{table}' ({rows} rows) from the warehouse {}", warehouse.root().display());
    }

    heading("Overview");
    println!("SELECT count(*) FROM {table} → {rows} rows. Every column (describe):\n");
    let started = Instant::now();
    print::describe(engine, table, &Printer::table()).await?;
    println!("({:.3} s)", started.elapsed().as_secs_f64());

    section(
        engine,
        "Arms",
        "Rows and metric means per arm, with the ratio metric numerator/denominator and its \
         delta-method standard error (the per-user ratio's terms are correlated, so a naive \
         standard error would be wrong).",
        &format!(
            "SELECT treatment, count(*) AS n, avg(numerator) AS numerator, avg(denominator) AS denominator,
       avg(numerator) / avg(denominator) AS ratio,
       deltamethod(avg(numerator) / avg(denominator)) AS ratio_se
FROM {table} GROUP BY treatment ORDER BY treatment;"
        ),
    )
    .await?;
    Ok(())
}
