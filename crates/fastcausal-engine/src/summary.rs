//! Fitted models as people read them: an R/statsmodels-style summary of each regression in a
//! result (the coefficient table, then the model statistics), shared by the command line and
//! Python's `summary()`.

use comfy_table::{Cell, CellAlignment, Table};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::output::format_float;

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
