//! Golden test of the distributions against scipy: every value in
//! `tests/reference/distributions.json` (written by `tests/reference/make_distributions.py`,
//! which also checks scipy against 50-digit mpmath) must match to 1e-12 relative.

use fastcausal_stats::distributions::{
    StudentT, chi_squared_cdf, chi_squared_sf, normal_cdf, normal_isf, normal_ppf, normal_sf,
};
use serde_json::Value;

const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/reference/distributions.json");

/// Relative tolerance for every value.
const RELATIVE: f64 = 1e-12;
/// Quantiles within 1e-3 of zero (p near ½; the grid has p = ½ itself, whose quantile is 0) are
/// compared absolutely: a probability near ½ only determines its quantile to about 1e-16.
const ABSOLUTE_NEAR_ZERO: f64 = 1e-15;

fn reference() -> Value {
    let text = std::fs::read_to_string(REFERENCE).expect("read tests/reference/distributions.json");
    serde_json::from_str(&text).expect("parse distributions.json")
}

fn pairs(value: &Value) -> Vec<(f64, f64)> {
    value
        .as_array()
        .expect("a list of [argument, value] pairs")
        .iter()
        .map(|pair| (pair[0].as_f64().unwrap(), pair[1].as_f64().unwrap()))
        .collect()
}

/// The comparison of one function with its reference values: how many were checked, the largest
/// relative error, and a line for each value outside the tolerance.
#[derive(Default)]
struct Check {
    count: usize,
    worst: f64,
    failures: Vec<String>,
}

impl Check {
    fn compare(&mut self, label: &str, pairs: &[(f64, f64)], quantile: bool, f: impl Fn(f64) -> f64) {
        for &(arg, want) in pairs {
            let got = f(arg);
            let error = ((got - want) / want).abs();
            let ok = if quantile && want.abs() < 1e-3 {
                (got - want).abs() <= ABSOLUTE_NEAR_ZERO
            } else {
                self.worst = self.worst.max(error);
                error <= RELATIVE
            };
            self.count += 1;
            if !ok {
                self.failures.push(format!("{label}({arg:e}) = {got:e}, scipy {want:e} (rel {error:.1e})"));
            }
        }
    }

    fn finish(self, what: &str, expected_at_least: usize) {
        println!("{what}: {} values, largest relative error {:.1e}", self.count, self.worst);
        assert!(self.count >= expected_at_least, "{what}: only {} reference values", self.count);
        assert!(self.failures.is_empty(), "{what}:\n{}", self.failures.join("\n"));
    }
}

#[test]
fn normal_matches_scipy() {
    let reference = reference();
    let normal = &reference["normal"];
    for (name, f, quantile) in [
        ("cdf", normal_cdf as fn(f64) -> f64, false),
        ("sf", normal_sf, false),
        ("ppf", normal_ppf, true),
        ("isf", normal_isf, true),
    ] {
        let mut check = Check::default();
        check.compare(&format!("normal_{name}"), &pairs(&normal[name]), quantile, f);
        check.finish(&format!("normal {name}"), 20);
    }
}

#[test]
fn student_t_matches_scipy() {
    let reference = reference();
    let cases = reference["t"].as_array().expect("t cases");
    assert_eq!(cases.len(), 20);
    for name in ["cdf", "sf", "ppf", "isf"] {
        let mut check = Check::default();
        for case in cases {
            let df = match &case["df"] {
                Value::String(s) if s == "inf" => f64::INFINITY,
                v => v.as_f64().expect("df"),
            };
            let dist = StudentT::new(df).unwrap();
            let label = format!("t(df = {df:e}).{name}");
            let data = pairs(&case[name]);
            match name {
                "cdf" => check.compare(&label, &data, false, |t| dist.cdf(t)),
                "sf" => check.compare(&label, &data, false, |t| dist.sf(t)),
                "ppf" => check.compare(&label, &data, true, |p| dist.ppf(p)),
                _ => check.compare(&label, &data, true, |p| dist.isf(p)),
            }
        }
        check.finish(&format!("t {name}"), 350);
    }
}

#[test]
fn chi_squared_matches_scipy() {
    let reference = reference();
    let cases = reference["chi2"].as_array().expect("chi2 cases");
    assert_eq!(cases.len(), 8);
    for name in ["cdf", "sf"] {
        let mut check = Check::default();
        for case in cases {
            let k = case["k"].as_f64().expect("k");
            let label = format!("chi2(k = {k}).{name}");
            let data = pairs(&case[name]);
            if name == "cdf" {
                check.compare(&label, &data, false, |x| chi_squared_cdf(x, k));
            } else {
                check.compare(&label, &data, false, |x| chi_squared_sf(x, k));
            }
        }
        check.finish(&format!("chi-square {name}"), 70);
    }
}
