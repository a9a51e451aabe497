//! The `fastcausal` command end to end: each test runs the real binary against a fresh
//! warehouse in a temporary directory.

use std::path::Path;
use std::process::Command;

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn fastcausal(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_fastcausal"))
        .current_dir(dir)
        .env_remove("FASTCAUSAL_WAREHOUSE")
        .args(args)
        .output()
        .expect("the binary runs");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let r = fastcausal(dir, args);
    assert!(r.ok, "fastcausal {args:?} failed: {}", r.stderr);
    r.stdout
}

fn fails(dir: &Path, args: &[&str]) -> String {
    let r = fastcausal(dir, args);
    assert!(!r.ok, "fastcausal {args:?} should fail; printed {}", r.stdout);
    assert!(!r.stderr.contains("panicked"), "panic: {}", r.stderr);
    r.stderr
}

fn warehouse_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walk(&dir.join(".fastcausal")).into_iter().filter(|p| !p.ends_with(".lock")).collect();
    v.sort();
    v
}

fn walk(p: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

#[test]
fn import_query_schema_describe_drop() {
    let dir = tempfile::tempdir().unwrap();
    // Semicolon-delimited with a header: detected.
    std::fs::write(dir.path().join("sales.csv"), "region;units;price\nnorth;3;2.5\nsouth;4;1.25\nnorth;5;2\n").unwrap();
    let out = ok(dir.path(), &["import", "sales.csv", "--table", "sales"]);
    assert!(out.contains("imported 3 rows into table 'sales'"), "{out}");

    let out = ok(dir.path(), &["tables"]);
    assert!(out.contains("sales") && out.contains("sales.csv"), "{out}");

    // 3·2.5 + 4·1.25 + 5·2 = 22.5
    let out = ok(dir.path(), &["sql", "SELECT sum(units * price) AS revenue FROM sales", "--format", "csv"]);
    assert_eq!(out, "revenue\n22.5\n");

    let out = ok(
        dir.path(),
        &["sql", "SELECT region, sum(units) AS u FROM sales GROUP BY region ORDER BY region", "--format", "json"],
    );
    assert_eq!(out.trim(), r#"[{"region":"north","u":8},{"region":"south","u":4}]"#);

    let out = ok(dir.path(), &["schema", "sales"]);
    assert!(out.contains("units") && out.contains("Int64") && out.contains("Float64"), "{out}");

    // describe: mean of units = 4, sample std = 1
    let out = ok(dir.path(), &["describe", "sales", "--format", "csv"]);
    let units = out.lines().find(|l| l.starts_with("units,")).expect("a units row");
    assert!(units.starts_with("units,Int64,3,0,4.0,1.0,3.0,"), "{units}");

    // Tables are visible by name in the REPL-less sql command and can be dropped.
    ok(dir.path(), &["drop", "sales"]);
    let err = fails(dir.path(), &["sql", "SELECT * FROM sales"]);
    assert!(err.contains("unknown table 'sales'"), "{err}");
}

#[test]
fn malformed_csv_names_line_and_column_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.csv"), "a,b\n1,2\n").unwrap();
    ok(dir.path(), &["import", "good.csv", "--table", "good"]);
    let before = warehouse_files(dir.path());

    // Ragged row on line 3.
    std::fs::write(dir.path().join("ragged.csv"), "a,b\n1,2\n3\n4,5\n").unwrap();
    let err = fails(dir.path(), &["import", "ragged.csv", "--table", "bad"]);
    assert!(err.contains("ragged.csv") && err.contains("line 3"), "{err}");

    // A value that does not fit the type inferred from the column (dates, but February 30th)
    // on line 4, counting the header as line 1.
    std::fs::write(dir.path().join("dates.csv"), "id,day\n1,2023-01-05\n2,2023-02-28\n3,2023-02-30\n").unwrap();
    let err = fails(dir.path(), &["import", "dates.csv", "--table", "bad"]);
    assert!(err.contains("dates.csv: line 4, column 'day': '2023-02-30' is not a valid Date32"), "{err}");

    std::fs::write(dir.path().join("events.json"), "{\"a\": 1}\n{\"a\": 2,}\n").unwrap();
    let err = fails(dir.path(), &["import", "events.json", "--table", "bad2"]);
    assert!(err.contains("events.json") && err.contains("line 2"), "{err}");

    let err = fails(dir.path(), &["import", "missing.csv", "--table", "bad3"]);
    assert!(err.contains("missing.csv"), "{err}");

    let err = fails(dir.path(), &["import", "good.csv", "--table", "Bad-Name"]);
    assert!(err.contains("'bad_name'"), "{err}");

    let err = fails(dir.path(), &["import", "good.csv", "--table", "good"]);
    assert!(err.contains("already exists"), "{err}");

    // The failures left the warehouse exactly as it was.
    assert_eq!(warehouse_files(dir.path()), before);
    let out = ok(dir.path(), &["tables"]);
    assert!(out.contains("good") && !out.contains("bad"), "{out}");
}

#[test]
fn clear_errors_for_unknown_names_and_bad_metrics() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["gen-data", "--rows", "2000", "--table", "ab"]);

    let err = fails(dir.path(), &["sql", "SELECT * FROM abb"]);
    assert!(err.contains("unknown table 'abb' (did you mean 'ab'?)"), "{err}");

    let err = fails(dir.path(), &["sql", "SELECT avg(numeratr) FROM ab"]);
    assert!(err.contains("unknown column 'numeratr' (did you mean 'numerator'?)"), "{err}");

    let err = fails(dir.path(), &["sql", "SELECT deltamethod(avg(numerator) / denominator) FROM ab"]);
    assert!(err.contains("`denominator` is a bare column") && err.contains("line 1, column 37"), "{err}");

    let err = fails(dir.path(), &["sql", "SELEC 1"]);
    assert!(err.starts_with("error: "), "{err}");

    let err = fails(dir.path(), &["sql", "SELECT * FROM 'nothing/*.parquet'"]);
    assert!(err.contains("no file matches"), "{err}");

    let err = fails(dir.path(), &["gen-data", "--rows", "10"]);
    assert!(err.contains("--out") || err.contains("--table"), "{err}");
}

#[test]
fn gen_data_to_file_is_deterministic_and_readable_by_path() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["gen-data", "--rows", "70000", "--seed", "3", "--out", "a.parquet"]);
    ok(dir.path(), &["gen-data", "--rows", "70000", "--seed", "3", "--out", "b.parquet"]);
    let q = |f: &str| {
        ok(
            dir.path(),
            &[
                "sql",
                &format!("SELECT count(*) AS n, sum(y) AS s, count(DISTINCT x_cat1) AS c FROM '{f}'"),
                "--format",
                "csv",
            ],
        )
    };
    let a = q("a.parquet");
    assert_eq!(a, q("b.parquet"));
    assert!(a.starts_with("n,s,c\n70000,"), "{a}");
    assert!(a.trim_end().ends_with(",5"), "{a}");
    // The 17 columns, in FCI's order.
    let out = ok(dir.path(), &["sql", "SELECT * FROM 'a.parquet' LIMIT 1", "--format", "csv"]);
    assert_eq!(
        out.lines().next().unwrap(),
        "x1,x2,x3,x4,x5,x_long_tail1,x_long_tail2,x_cat1,treatment,t_ob,y,y_ob,numerator_pre,numerator,denominator_pre,denominator,weight"
    );
    // Globs and directories read the same data.
    std::fs::create_dir(dir.path().join("parts")).unwrap();
    std::fs::rename(dir.path().join("b.parquet"), dir.path().join("parts/b.parquet")).unwrap();
    let g = ok(dir.path(), &["sql", "SELECT count(*) AS n FROM 'parts/*.parquet'", "--format", "csv"]);
    assert_eq!(g, "n\n70000\n");
    let d = ok(dir.path(), &["sql", "SELECT count(*) AS n FROM 'parts'", "--format", "csv"]);
    assert_eq!(d, "n\n70000\n");
}

#[test]
fn struct_results_print_as_columns_and_output_files_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["sql", "SELECT named_struct('estimate', 1.5, 'stderr', 0.25) AS t", "--format", "csv"]);
    assert_eq!(out, "estimate,stderr\n1.5,0.25\n");
    ok(dir.path(), &["sql", "SELECT 1 AS one", "--format", "parquet", "--output", "one.parquet"]);
    let out = ok(dir.path(), &["sql", "SELECT one FROM 'one.parquet'", "--format", "csv"]);
    assert_eq!(out, "one\n1\n");
    let err = fails(dir.path(), &["sql", "SELECT 1", "--format", "parquet"]);
    assert!(err.contains("--output"), "{err}");
}
