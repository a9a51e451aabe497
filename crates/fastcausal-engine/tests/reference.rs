//! Statistics against the committed reference values of `tests/reference/reference.json`
//! (computed by `tests/reference/make_reference.py` with numpy/scipy/statsmodels), to 1e-9
//! relative, reading the reference data file by path as a user would, on one and on many
//! partitions.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use datafusion::execution::context::SessionConfig;
use fastcausal_engine::{Engine, SourceOptions, default_config, run};
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn reference() -> Value {
    let text = std::fs::read_to_string(workspace().join("tests/reference/reference.json")).expect("reference.json");
    serde_json::from_str(&text).expect("valid JSON")
}

fn data_path() -> String {
    workspace().join("tests/reference/test_data_small.csv").canonicalize().unwrap().display().to_string()
}

fn assert_close(what: &str, got: f64, want: f64) {
    let rel = (got - want).abs() / want.abs().max(1e-300);
    assert!(rel <= 1e-9, "{what}: got {got:.17e}, reference {want:.17e} (relative error {rel:.2e})");
}

/// Engines to test with: one partition; the file split into many scan partitions; and the
/// same with partial aggregation skipped after the first rows, so that GROUP BY partial states
/// come from `convert_to_state` (one state per row) instead of per-group accumulation.
fn engines() -> Vec<(&'static str, Engine)> {
    let one: SessionConfig = default_config().with_target_partitions(1);
    let mut many: SessionConfig = default_config().with_target_partitions(8);
    many.options_mut().optimizer.repartition_file_min_size = 0;
    let many = many.with_batch_size(1000);
    let mut skipping = many.clone();
    skipping.options_mut().execution.skip_partial_aggregation_probe_ratio_threshold = 0.0;
    skipping.options_mut().execution.skip_partial_aggregation_probe_rows_threshold = 1;
    vec![
        ("1 partition", Engine::with_config(None, SourceOptions::default(), one)),
        ("8 partitions", Engine::with_config(None, SourceOptions::default(), many)),
        ("8 partitions, partial aggregation skipped", Engine::with_config(None, SourceOptions::default(), skipping)),
    ]
}

async fn column_f64(engine: &Engine, sql: &str) -> Vec<f64> {
    let batches = run::collect(engine.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"))).await.expect("runs");
    batches
        .iter()
        .flat_map(|b| {
            b.column(0).as_primitive::<Float64Type>().iter().map(|v| v.expect("non-null")).collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn deltamethod_matches_numpy() {
    let r = reference();
    let dm = &r["deltamethod"];
    let path = data_path();
    for (label, engine) in engines() {
        for arm in [0, 1] {
            let want = &dm[format!("ratio_numerator_denominator_arm{arm}")];
            let sql =
                format!("SELECT deltamethod(avg(numerator) / avg(denominator)) FROM '{path}' WHERE treatment = {arm}");
            assert_close(
                &format!("{label} ratio std arm {arm}"),
                column_f64(&engine, &sql).await[0],
                want["std"].as_f64().unwrap(),
            );
            let sql = format!("SELECT deltamethod(avg(x1), std => false) FROM '{path}' WHERE treatment = {arm}");
            let want = dm[format!("avg_x1_arm{arm}")]["variance"].as_f64().unwrap();
            assert_close(&format!("{label} avg(x1) variance arm {arm}"), column_f64(&engine, &sql).await[0], want);
        }
        let sql = format!("SELECT deltamethod(avg(y) / avg(x5) - avg(x1)) FROM '{path}'");
        let want = dm["ratio_minus_mean_all"]["std"].as_f64().unwrap();
        assert_close(&format!("{label} three-column metric"), column_f64(&engine, &sql).await[0], want);

        // GROUP BY with five groups goes through the groups accumulator.
        let sql = format!(
            "SELECT deltamethod(avg(numerator) / avg(denominator)) FROM '{path}' GROUP BY x_cat1 ORDER BY x_cat1"
        );
        let got = column_f64(&engine, &sql).await;
        for (i, cat) in ["A", "B", "C", "D", "E"].iter().enumerate() {
            let want = dm[format!("ratio_numerator_denominator_cat{cat}")]["std"].as_f64().unwrap();
            assert_close(&format!("{label} group {cat}"), got[i], want);
        }
    }
}

#[tokio::test]
async fn reference_data_reads_back_exactly() {
    // The CSV holds numpy's doubles in shortest round-trip form; the arm counts and means that
    // FCI published must come back exactly.
    let r = reference();
    let engine = Engine::in_memory();
    let path = data_path();
    let sql = format!("SELECT treatment, count(*), avg(numerator) FROM '{path}' GROUP BY treatment ORDER BY treatment");
    let batches = run::collect(engine.sql(&sql).await.unwrap()).await.unwrap();
    let b = &batches[0];
    for arm in 0..2 {
        assert_eq!(
            b.column(1).as_primitive::<Int64Type>().value(arm),
            r["data"]["treatment_counts"][arm].as_i64().unwrap()
        );
        assert_close(
            "mean",
            b.column(2).as_primitive::<Float64Type>().value(arm),
            r["data"]["mean_numerator_by_arm"][arm].as_f64().unwrap(),
        );
    }
    assert!(b.column(0).null_count() == 0);
}

#[tokio::test]
async fn describe_matches_numpy() {
    let r = reference();
    let path = data_path();
    for (label, engine) in engines() {
        let df = engine.sql(&format!("SELECT * FROM '{path}'")).await.unwrap();
        let batch = fastcausal_engine::describe::describe(&engine, df).await.unwrap();
        let names = batch.column(0).as_string::<i32>();
        let stat = |name: &str| -> &dyn Array { batch.column_by_name(name).unwrap().as_ref() };
        let mut checked = 0;
        for i in 0..batch.num_rows() {
            let column = names.value(i);
            let Some(want) = r["describe"].get(column) else {
                assert_eq!(column, "x_cat1");
                assert_eq!(stat("distinct").as_primitive::<Int64Type>().value(i), 5);
                continue;
            };
            assert_eq!(stat("count").as_primitive::<Int64Type>().value(i), want["count"].as_i64().unwrap());
            assert_eq!(stat("nulls").as_primitive::<Int64Type>().value(i), 0);
            for s in ["mean", "std", "min", "p25", "median", "p75", "max"] {
                let got = stat(s).as_primitive::<Float64Type>().value(i);
                let want = want[s].as_f64().unwrap();
                // Sums over 10,000 values: 1e-9 relative, or 1e-12 absolute for means near 0.
                assert!((got - want).abs() <= 1e-9 * want.abs() + 1e-12, "{label} {column}.{s}: {got} vs {want}");
            }
            checked += 1;
        }
        assert_eq!(checked, 16);
    }
}

/// A result value as JSON, the form `reference.json` uses: structs as objects, lists as arrays,
/// infinities as the strings "Infinity" / "-Infinity".
fn value_json(a: &dyn Array, i: usize) -> Value {
    use datafusion::arrow::datatypes::DataType;
    if a.is_null(i) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Float64 => {
            let x = a.as_primitive::<Float64Type>().value(i);
            if x.is_finite() {
                serde_json::json!(x)
            } else {
                Value::String(if x.is_nan() {
                    "NaN".into()
                } else if x > 0.0 {
                    "Infinity".into()
                } else {
                    "-Infinity".into()
                })
            }
        }
        DataType::Int64 => serde_json::json!(a.as_primitive::<Int64Type>().value(i)),
        DataType::Boolean => serde_json::json!(a.as_boolean().value(i)),
        DataType::Utf8 => Value::String(a.as_string::<i32>().value(i).to_owned()),
        DataType::Utf8View => Value::String(a.as_string_view().value(i).to_owned()),
        DataType::Struct(fields) => {
            let s = a.as_struct();
            Value::Object(
                fields.iter().zip(s.columns()).map(|(f, c)| (f.name().clone(), value_json(c.as_ref(), i))).collect(),
            )
        }
        DataType::List(_) => {
            let items = a.as_list::<i32>().value(i);
            Value::Array((0..items.len()).map(|j| value_json(items.as_ref(), j)).collect())
        }
        other => panic!("unexpected result type {other}"),
    }
}

/// Compares `got` with `want` field by field (numbers to 1e-9 relative), collecting mismatches.
fn compare_json(path: &str, got: &Value, want: &Value, failures: &mut Vec<String>) {
    match (want, got) {
        (Value::Number(w), Value::Number(g)) => {
            let (w, g) = (w.as_f64().unwrap(), g.as_f64().unwrap());
            if (g - w).abs() > 1e-9 * w.abs().max(g.abs()) + 1e-300 {
                failures.push(format!("{path}: got {g:.17e}, reference {w:.17e}"));
            }
        }
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => compare_json(&format!("{path}.{k}"), gv, wv, failures),
                    None => failures.push(format!("{path}: missing field {k}")),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                failures.push(format!("{path}: {} items, reference {}", g.len(), w.len()));
            }
            for (j, (wv, gv)) in w.iter().zip(g).enumerate() {
                compare_json(&format!("{path}[{j}]"), gv, wv, failures);
            }
        }
        (w, g) if w == g => {}
        (w, g) => failures.push(format!("{path}: got {g}, reference {w}")),
    }
}

/// Every case of the reference's "tests" (t-tests, CUPED, PSE, multi-arm, SRM, Mann–Whitney,
/// KS, shortcuts, power) against scipy/statsmodels/numpy, on every engine configuration; and
/// FCI's published numbers (6 decimals) where it published them.
#[tokio::test]
async fn experiment_tests_match_references() {
    let r = reference();
    let failures = run_cases(r["tests"].as_array().expect("reference tests")).await;
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// Every SQL case of `regression.json` (ols/wls: classical, HC0, HC1, weights, GROUP BY,
/// categorical terms and interactions, transforms, a dropped collinear term) against
/// statsmodels, on every engine configuration.
#[tokio::test]
async fn regressions_match_statsmodels() {
    let text = std::fs::read_to_string(workspace().join("tests/reference/regression.json")).expect("regression.json");
    let r: Value = serde_json::from_str(&text).expect("valid JSON");
    let failures = run_cases(r["sql_cases"].as_array().expect("sql cases")).await;
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

fn multipass() -> Value {
    let text = std::fs::read_to_string(workspace().join("tests/reference/multipass.json")).expect("multipass.json");
    serde_json::from_str(&text).expect("valid JSON")
}

/// Every logistic case of `multipass.json` (classical, robust and clustered errors, GROUP BY,
/// categorical terms, WHERE, no intercept, a dropped collinear term) against statsmodels' Logit
/// fitted to machine precision, on every engine configuration.
#[tokio::test]
async fn logistic_matches_statsmodels() {
    let failures = run_cases(multipass()["sql_cases"].as_array().expect("sql cases")).await;
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// Every HC2/HC3 case of `multipass.json` (OLS, WLS, GROUP BY, categorical interactions, a dropped
/// term) against statsmodels, on every engine configuration.
#[tokio::test]
async fn leverage_errors_match_statsmodels() {
    let failures = run_cases(multipass()["ols_cases"].as_array().expect("ols cases")).await;
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// Every SQL case of `penalized.json` (ridge, lasso, elastic net; standardised, categorical,
/// GROUP BY, cross-validated with hashed folds) against scikit-learn, on every engine
/// configuration.
#[tokio::test]
async fn penalized_matches_scikit_learn() {
    let text = std::fs::read_to_string(workspace().join("tests/reference/penalized.json")).expect("penalized.json");
    let r: Value = serde_json::from_str(&text).expect("valid JSON");
    let failures = run_cases(r["sql_cases"].as_array().expect("sql cases")).await;
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// Stored models applied to new rows (`multipass.json`'s predict cases): OLS and WLS against
/// statsmodels' `get_prediction` (means, standard errors, confidence and prediction intervals),
/// logistic probabilities and intervals against statsmodels' coefficients and covariance.
#[tokio::test]
async fn predictions_match_statsmodels() {
    let path = data_path();
    let mut failures = Vec::new();
    let configs = [
        ("1 partition", default_config().with_target_partitions(1)),
        ("8 partitions", default_config().with_target_partitions(8).with_batch_size(1000)),
    ];
    for (engine_name, config) in configs {
        let dir = tempfile::tempdir().unwrap();
        let engine =
            Engine::with_config(Some(fastcausal_engine::Warehouse::new(dir.path())), SourceOptions::default(), config);
        for case in multipass()["predict_cases"].as_array().expect("predict cases") {
            let name = case["name"].as_str().unwrap();
            let create = case["create"].as_str().unwrap().replace("{path}", &path);
            run::collect(engine.sql(&create).await.unwrap_or_else(|e| panic!("{name}: {e}"))).await.expect("created");
            let sql = format!(
                "SELECT predict('{}') AS p FROM '{path}' WHERE treatment = 1 AND x5 < 0.25 ORDER BY x1",
                case["model"].as_str().unwrap()
            );
            let batches =
                run::collect(engine.sql(&sql).await.unwrap_or_else(|e| panic!("{name}: {e}"))).await.expect("runs");
            let got: Vec<Value> =
                batches.iter().flat_map(|b| (0..b.num_rows()).map(|i| value_json(b.column(0).as_ref(), i))).collect();
            let want = case["rows"].as_array().unwrap();
            if got.len() != want.len() {
                failures.push(format!("[{engine_name}] {name}: {} rows, reference {}", got.len(), want.len()));
                continue;
            }
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                compare_json(&format!("[{engine_name}] {name} row {i}"), g, w, &mut failures);
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// FCI published `y ~ x1 + x2 + t_ob` on this data: 11.511121, 1.719414, 2.052233, 1.394370.
#[tokio::test]
async fn ols_reproduces_fci() {
    let engine = Engine::in_memory();
    let sql = format!(
        "SELECT c.estimate FROM (SELECT unnest(r.coefficients) AS c FROM (SELECT ols('y ~ x1 + x2 + t_ob') AS r FROM '{}'))",
        data_path()
    );
    let got = column_f64(&engine, &sql).await;
    let published = [11.511121, 1.719414, 2.052233, 1.394370];
    assert_eq!(got.len(), 4);
    for (g, p) in got.iter().zip(published) {
        assert!((g - p).abs() <= 5e-7, "{g} differs from FCI's {p}");
    }
}

/// Runs reference cases (`select`, optional `where` and `group_by`, expected `rows`) on every
/// engine configuration and lists the mismatches.
async fn run_cases(cases: &[Value]) -> Vec<String> {
    let path = data_path();
    let mut failures = Vec::new();
    for (engine_name, engine) in engines() {
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let select = case["select"].as_str().unwrap();
            let group = case["group_by"].as_str();
            let mut sql =
                format!("SELECT {}{select} AS r FROM '{path}'", group.map_or(String::new(), |g| format!("{g}, ")));
            if let Some(w) = case["where"].as_str() {
                sql += &format!(" WHERE {w}");
            }
            if let Some(g) = group {
                sql += &format!(" GROUP BY {g} ORDER BY {g}");
            }
            let batches = match engine.sql(&sql).await {
                Ok(df) => match run::collect(df).await {
                    Ok(b) => b,
                    Err(e) => {
                        failures.push(format!("[{engine_name}] {name}: {e}"));
                        continue;
                    }
                },
                Err(e) => {
                    failures.push(format!("[{engine_name}] {name}: {e}"));
                    continue;
                }
            };
            let mut got = Vec::new();
            for b in &batches {
                let col = b.column(b.num_columns() - 1);
                for i in 0..b.num_rows() {
                    let key = group.map(|_| match value_json(b.column(0).as_ref(), i) {
                        Value::String(s) => s,
                        Value::Number(n) => n.as_f64().map(|x| format!("{x}")).unwrap_or_default(),
                        other => other.to_string(),
                    });
                    got.push((key, value_json(col.as_ref(), i)));
                }
            }
            let rows = case["rows"].as_array().unwrap();
            if rows.len() != got.len() {
                failures.push(format!("[{engine_name}] {name}: {} result rows, reference {}", got.len(), rows.len()));
                continue;
            }
            for (row, (key, value)) in rows.iter().zip(&got) {
                let label =
                    format!("[{engine_name}] {name}{}", key.as_deref().map(|k| format!(" [{k}]")).unwrap_or_default());
                if let Some(g) = row["group"].as_str() {
                    let k = key.clone().unwrap_or_default();
                    if k != g && k.trim_end_matches(".0") != g {
                        failures.push(format!("{label}: group {k}, reference {g}"));
                    }
                }
                let want = &row["fields"];
                // A list-valued function compares its list with the "rows" field.
                let got_value = if want.get("rows").is_some() && value.is_array() {
                    serde_json::json!({ "rows": value })
                } else {
                    value.clone()
                };
                compare_json(&label, &got_value, want, &mut failures);
                let fci = match (&case["fci"], key) {
                    (Value::Null, _) => None,
                    (f, Some(k)) if f.get(k.as_str()).is_some() => f.get(k.as_str()),
                    (f, None) => Some(f),
                    _ => None,
                };
                if let Some(Value::Object(fci)) = fci {
                    for (field, published) in fci {
                        let g = got_value[field].as_f64().unwrap_or(f64::NAN);
                        let p = published.as_f64().unwrap();
                        if !((g - p).abs() <= 5e-7) {
                            failures.push(format!("{label}.{field}: {g} differs from FCI's published {p}"));
                        }
                    }
                }
            }
        }
    }
    failures
}
