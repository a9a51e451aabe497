//! Golden tests of OLS/WLS against statsmodels (tests/reference/make_regression.py writes
//! tests/reference/regression.json): coefficients, classical, HC0 and HC1 standard errors, t and
//! p values, intervals and every model statistic, to 1e-9 relative — with an intercept, without,
//! with weights, with a badly conditioned regressor (mean 1000, sd 1) and with a categorical
//! term fitted from one moment state per level. Moments are built from chunks of rows folded
//! into three states and merged, as partitions would be.

use fastcausal_stats::regression::{Cell, CovType, DesignMoments, LinearFit, LinearSpec, fit};
use serde_json::Value;

const TOLERANCE: f64 = 1e-9;

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/reference/regression.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read regression.json")).expect("parse regression.json")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

/// Moments of `columns` (rows selected by `keep`), folded in chunks of 37 rows into three
/// states that are then merged.
fn moments(columns: &[&[f64]], keep: &dyn Fn(usize) -> bool, weighted: bool, fourth: bool) -> DesignMoments {
    let values = columns.len() - usize::from(weighted);
    let rows: Vec<usize> = (0..columns[0].len()).filter(|&i| keep(i)).collect();
    let mut parts = vec![DesignMoments::new(values, weighted, fourth); 3];
    for (c, chunk) in rows.chunks(37).enumerate() {
        let cols: Vec<Vec<f64>> = columns.iter().map(|col| chunk.iter().map(|&i| col[i]).collect()).collect();
        let slices: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
        parts[c % 3].update(&slices).unwrap();
    }
    let mut whole = parts[0].clone();
    whole.merge(&parts[1]);
    whole.merge(&parts[2]);
    whole
}

fn labels(v: &Value) -> Vec<String> {
    v.as_array().expect("array").iter().map(|x| x.as_str().expect("text").to_owned()).collect()
}

/// A coefficient's value under the reference's field name.
fn coefficient_field(c: &fastcausal_stats::regression::Coefficient, field: &str) -> Option<f64> {
    match field {
        "params" => c.estimate,
        "bse" => c.std_error,
        "tvalues" => c.t_value,
        "pvalues" => c.p_value,
        "ci_lower" => c.ci_lower,
        _ => c.ci_upper,
    }
}

fn unit(d: usize, i: usize) -> Vec<f64> {
    let mut e = vec![0.0; d];
    e[i] = 1.0;
    e
}

fn check(name: &str, what: &str, ours: f64, theirs: f64) {
    let ok = (ours - theirs).abs() <= TOLERANCE * theirs.abs().max(1e-300) || (ours == theirs);
    assert!(ok, "{name}: {what}: ours {ours:e}, statsmodels {theirs:e}");
}

fn compare(name: &str, ours: &LinearFit, r: &Value) {
    let fields = ["params", "bse", "tvalues", "pvalues", "ci_lower", "ci_upper"];
    for field in fields {
        let theirs = floats(&r[field]);
        for (c, t) in ours.coefficients.iter().zip(&theirs) {
            check(name, &format!("{field}[{}]", c.term), coefficient_field(c, field).expect("kept"), *t);
        }
    }
    check(name, "rsquared", ours.r_squared, r["rsquared"].as_f64().unwrap());
    check(name, "rsquared_adj", ours.adj_r_squared, r["rsquared_adj"].as_f64().unwrap());
    check(name, "fvalue", ours.f_statistic.unwrap(), r["fvalue"].as_f64().unwrap());
    check(name, "f_pvalue", ours.f_p_value.unwrap(), r["f_pvalue"].as_f64().unwrap());
    check(name, "llf", ours.log_likelihood, r["llf"].as_f64().unwrap());
    check(name, "aic", ours.aic, r["aic"].as_f64().unwrap());
    check(name, "bic", ours.bic, r["bic"].as_f64().unwrap());
    check(name, "df_model", ours.df_model, r["df_model"].as_f64().unwrap());
    check(name, "df_resid", ours.df_resid, r["df_resid"].as_f64().unwrap());
    check(name, "residual_std_error", ours.residual_std_error, r["residual_std_error"].as_f64().unwrap());
    assert!(ours.dropped.is_empty());
}

#[test]
fn linear_models_match_statsmodels() {
    let reference = reference();
    let data = &reference["data"];
    let col = |n: &str| floats(&data[n]);
    let (x1, x2, x3, w, y) = (col("x1"), col("x2"), col("x3"), col("w"), col("y"));
    let g = labels(&data["g"]);
    let fits = reference["fits"].as_array().unwrap();
    assert_eq!(fits.len(), 10);
    for r in fits {
        let name = r["name"].as_str().unwrap();
        let cov = match r["cov"].as_str().unwrap() {
            "nonrobust" => CovType::Classical,
            "HC0" => CovType::HC0,
            "HC1" => CovType::HC1,
            other => panic!("unknown cov {other}"),
        };
        let terms: Vec<String> =
            r["terms"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
        let fourth = cov.needs_fourth();
        let all = |_: usize| true;
        let spec = |intercept| LinearSpec { terms: terms.clone(), intercept, cov, alpha: 0.05, clusters: vec![] };
        let ours = match r["formula"].as_str().unwrap() {
            "y ~ x1 + x2 + x3" => {
                let weighted = r["weights"].as_bool().unwrap();
                let mut columns: Vec<&[f64]> = vec![&x1, &x2, &x3, &y];
                if weighted {
                    columns.push(&w);
                }
                let m = moments(&columns, &all, weighted, fourth);
                let cell = Cell {
                    moments: &m,
                    design: (0..4).map(|i| unit(5, i)).collect(),
                    response: unit(5, 4),
                    leverage_meat: None,
                };
                fit(&[cell], &spec(true)).unwrap()
            }
            "y ~ x1 + x2 - 1" => {
                let m = moments(&[&x1, &x2, &y], &all, false, fourth);
                let cell = Cell {
                    moments: &m,
                    design: vec![unit(4, 1), unit(4, 2)],
                    response: unit(4, 3),
                    leverage_meat: None,
                };
                fit(&[cell], &spec(false)).unwrap()
            }
            "y ~ x1 + C(g)" => {
                // Terms: Intercept, C(g)[T.b], C(g)[T.c], x1 — one cell per level of g.
                let states: Vec<(String, DesignMoments)> = ["a", "b", "c"]
                    .iter()
                    .map(|&level| (level.to_owned(), moments(&[&x1, &y], &|i| g[i] == level, false, fourth)))
                    .collect();
                let cells: Vec<Cell> = states
                    .iter()
                    .map(|(level, m)| {
                        let dummy = |l: &str| if level == l { unit(3, 0) } else { vec![0.0; 3] };
                        Cell {
                            moments: m,
                            design: vec![unit(3, 0), dummy("b"), dummy("c"), unit(3, 1)],
                            response: unit(3, 2),
                            leverage_meat: None,
                        }
                    })
                    .collect();
                fit(&cells, &spec(true)).unwrap()
            }
            other => panic!("unknown formula {other}"),
        };
        compare(name, &ours, r);
    }
}

#[test]
fn aliased_terms_are_dropped_and_named() {
    // x2 = 2·x1 exactly: x2 is dropped (it comes after x1), the rest is the fit of y on x1.
    let x1 = [1.0, 2.0, 3.0, 4.0, 5.0];
    let x2: Vec<f64> = x1.iter().map(|x| 2.0 * x).collect();
    let y = [2.0, 4.5, 5.5, 8.5, 9.5];
    let m = moments(&[&x1, &x2, &y], &|_| true, false, false);
    let terms = vec!["Intercept".to_owned(), "x1".to_owned(), "x2".to_owned()];
    let cell = Cell {
        moments: &m,
        design: vec![unit(4, 0), unit(4, 1), unit(4, 2)],
        response: unit(4, 3),
        leverage_meat: None,
    };
    let f =
        fit(&[cell], &LinearSpec { terms, intercept: true, cov: CovType::Classical, alpha: 0.05, clusters: vec![] })
            .unwrap();
    assert_eq!(f.dropped, vec!["x2".to_owned()]);
    assert_eq!(f.coefficients[2].estimate, None);
    // By hand: x̄ = 3, ȳ = 6, Sxy = 19, Sxx = 10 → slope 1.9, intercept 0.3.
    assert!((f.coefficients[1].estimate.unwrap() - 1.9).abs() < 1e-12);
    assert!((f.coefficients[0].estimate.unwrap() - 0.3).abs() < 1e-12);
    assert_eq!(f.df_resid, 3.0);
}

/// 2SLS against linearmodels' IV2SLS (`yiv ~ 1 + x1 + [d ~ z1 + z2]`): unadjusted and robust
/// errors from one (merged) moment state, clustered errors from one state per cluster (g).
#[test]
fn two_stage_least_squares_matches_linearmodels() {
    use fastcausal_stats::regression::iv::{IvCell, IvCov, IvSpec, fit_iv};
    let reference = reference();
    let data = &reference["data"];
    let col = |n: &str| floats(&data[n]);
    let (x1, d, z1, z2, y) = (col("x1"), col("d"), col("z1"), col("z2"), col("yiv"));
    let g = labels(&data["g"]);
    let fits = reference["iv_fits"].as_array().unwrap();
    assert_eq!(fits.len(), 3);
    // Values: (yiv, x1, d, z1, z2), so u = (1, yiv, x1, d, z1, z2).
    let columns: Vec<&[f64]> = vec![&y, &x1, &d, &z1, &z2];
    fn cell(m: &DesignMoments) -> IvCell<'_> {
        IvCell {
            moments: m,
            exogenous: vec![unit(6, 0), unit(6, 2)],
            endogenous: vec![unit(6, 3)],
            instruments: vec![unit(6, 4), unit(6, 5)],
            response: unit(6, 1),
        }
    }
    for r in fits {
        let name = r["name"].as_str().unwrap();
        let cov = match r["cov"].as_str().unwrap() {
            "unadjusted" => IvCov::Unadjusted,
            "robust" => IvCov::Robust,
            _ => IvCov::Clustered,
        };
        let levels = ["a", "b", "c"];
        let states: Vec<DesignMoments> = if cov == IvCov::Clustered {
            levels.iter().map(|&l| moments(&columns, &|i| g[i] == l, false, false)).collect()
        } else {
            vec![moments(&columns, &|_| true, false, cov.needs_fourth())]
        };
        let cells: Vec<IvCell> = states.iter().map(cell).collect();
        let spec = IvSpec {
            exogenous: vec!["Intercept".into(), "x1".into()],
            endogenous: vec!["d".into()],
            instruments: vec!["z1".into(), "z2".into()],
            intercept: true,
            cov,
            alpha: 0.05,
            clusters: if cov == IvCov::Clustered { vec![vec![0, 1, 2]] } else { vec![] },
        };
        let ours = fit_iv(&cells, &spec).unwrap();
        for field in ["params", "bse", "tvalues", "pvalues", "ci_lower", "ci_upper"] {
            for (c, t) in ours.coefficients.iter().zip(floats(&r[field])) {
                check(name, &format!("{field}[{}]", c.term), coefficient_field(c, field).expect("kept"), t);
            }
        }
        check(name, "rsquared", ours.r_squared, r["rsquared"].as_f64().unwrap());
        check(name, "wald", ours.wald_statistic.unwrap(), r["wald"].as_f64().unwrap());
        check(name, "wald p", ours.wald_p_value.unwrap(), r["wald_pvalue"].as_f64().unwrap());
        let fs = &ours.first_stage[0];
        check(
            name,
            "first-stage partial R²",
            fs.partial_r_squared,
            r["first_stage_partial_rsquared"].as_f64().unwrap(),
        );
        if let Some(f) = r["first_stage_f"].as_f64() {
            check(name, "first-stage F", fs.f_statistic, f);
            assert!(!ours.weak_instruments);
        }
    }
}
