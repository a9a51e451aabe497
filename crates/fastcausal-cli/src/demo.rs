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
    ab_report(engine, table).await?;
    regression_report(engine, table).await
}

/// Regression: the treatment effect adjusted for covariates beside the plain difference in
/// means, and the full model's summary.
async fn regression_report(engine: &Engine, table: &str) -> Result<(), Failure> {
    section(
        engine,
        "Regression: adjusted treatment effect",
        "The difference in mean y between arms, and the treatment coefficient of \
         y ~ treatment + x1 + x2 + x3 with HC1 (heteroskedasticity-robust) errors: the same \
         effect, estimated more precisely because the covariates explain part of y's variance.",
        &format!(
            "WITH plain AS (SELECT welch_ttest(y, treatment) AS t FROM {table}),
     adjusted AS (SELECT ols('y ~ treatment + x1 + x2 + x3', cov => 'HC1')['coefficients'][2] AS c FROM {table})
SELECT 'difference in means' AS analysis, t['estimate'] AS effect, t['stderr'] AS std_error,
       t['ci_lower'] AS ci_lower, t['ci_upper'] AS ci_upper FROM plain
UNION ALL
SELECT 'regression-adjusted (HC1)', c['estimate'], c['std_error'], c['ci_lower'], c['ci_upper'] FROM adjusted;"
        ),
    )
    .await?;
    section(
        engine,
        "Regression: the model",
        "The whole model, as R's summary() prints it: one pass over the data, one small moment \
         state per level of C(x_cat1).",
        &format!("SELECT ols('y ~ treatment + x1 + x2 + x3 + C(x_cat1)', cov => 'HC1') AS model FROM {table};"),
    )
    .await?;
    section(
        engine,
        "Observational study: propensity model",
        "Who gets t_ob? The exact maximum-likelihood logistic regression of the observational \
         treatment on the covariates (Newton's method, one pass over the data per step, until the \
         step is below 1e-8 relative), with robust errors: the propensity model that matching and \
         weighting build on. Its AUC says how well the covariates separate treated from untreated.",
        &format!("SELECT logistic('t_ob ~ x1 + x2 + x3', cov => 'HC0', auc => true) AS propensity FROM {table};"),
    )
    .await
}

/// The A/B report: is the split healthy, what is the effect (with and without CUPED), where is
/// it, and how small an effect could this experiment see.
async fn ab_report(engine: &Engine, table: &str) -> Result<(), Failure> {
    let ratio = "avg(numerator) / avg(denominator)";
    let cuped = "avg(numerator_pre) / avg(denominator_pre) + avg(x1)";
    section(
        engine,
        "A/B report: sample-ratio check",
        "Were users split 50/50 as designed? A small p-value means the assignment is broken and \
         the comparisons below cannot be trusted.",
        &format!(
            "SELECT r['arms'] AS arms, r['observed'] AS observed, r['expected'] AS expected,
       r['chi_square'] AS chi_square, r['p_value'] AS p_value
FROM (SELECT srm(1, treatment) AS r FROM {table});"
        ),
    )
    .await?;
    let fields = "r['mean0'] AS control, r['mean1'] AS treatment, r['estimate'] AS effect, r['stderr'] AS stderr,
       r['ci_lower'] AS ci_lower, r['ci_upper'] AS ci_upper, r['relative_estimate'] AS lift, r['p_value'] AS p_value,
       r['variance_reduction'] AS variance_reduction";
    section(
        engine,
        "A/B report: the ratio metric, without and with CUPED",
        "Welch t-test of numerator/denominator, treatment − control, delta-method variances. \
         CUPED adjusts each arm with pre-experiment covariates (the pre-period ratio and x1): \
         same effect, smaller standard error.",
        &format!(
            "SELECT 'plain' AS analysis, {fields}
FROM (SELECT ttest_2samp({ratio}, treatment) AS r FROM {table})
UNION ALL
SELECT 'CUPED', {fields}
FROM (SELECT ttest_2samp({ratio}, treatment, cuped => {cuped}) AS r FROM {table});"
        ),
    )
    .await?;
    section(
        engine,
        "A/B report: per segment",
        "The CUPED t-test in each x_cat1 segment (one pass for all segments), with p-values \
         adjusted for testing five segments: Holm (family-wise error) and Benjamini–Hochberg \
         (false discovery rate).",
        &format!(
            "WITH segment AS (
  SELECT x_cat1, ttest_2samp({ratio}, treatment, cuped => {cuped}) AS r FROM {table} GROUP BY x_cat1
), ranked AS (
  SELECT x_cat1, r['n0'] + r['n1'] AS n, r['estimate'] AS effect, r['ci_lower'] AS ci_lower, r['ci_upper'] AS ci_upper,
         r['relative_estimate'] AS lift, r['p_value'] AS p,
         row_number() OVER (ORDER BY r['p_value'], x_cat1) AS k, count(*) OVER () AS m
  FROM segment
)
SELECT x_cat1, n, effect, ci_lower, ci_upper, lift, p AS p_value,
       max(least(1.0, (m - k + 1) * p)) OVER (ORDER BY k) AS p_holm,
       min(least(1.0, m * p / k)) OVER (ORDER BY k DESC) AS p_bh
FROM ranked ORDER BY x_cat1;"
        ),
    )
    .await?;
    section(
        engine,
        "A/B report: minimum detectable effect",
        "The smallest true effect this experiment detects with 80% power at the 5% level, from the \
         observed variances; CUPED's variance reduction buys a smaller one.",
        &format!(
            "SELECT 'plain' AS analysis, r['mde'] AS mde, r['relative_mde'] AS relative_mde, r['stderr'] AS stderr
FROM (SELECT mde({ratio}, treatment, power => 0.8) AS r FROM {table})
UNION ALL
SELECT 'CUPED', r['mde'], r['relative_mde'], r['stderr']
FROM (SELECT mde({ratio}, treatment, cuped => {cuped}, power => 0.8) AS r FROM {table});"
        ),
    )
    .await
}
