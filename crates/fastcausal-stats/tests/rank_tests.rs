//! Golden tests of the rank tests against scipy 1.17 (tests/reference/make_rank_tests.py writes
//! tests/reference/rank_tests.json): Mann–Whitney U and the two-sample Kolmogorov–Smirnov test
//! for every alternative (and continuity on/off), from tiny exact cases to 2.2 million values per
//! arm, and scipy.stats.kstwo.sf over a grid of (n, d) covering each of its algorithms.
//!
//! Statistics must be equal; p-values equal to 1e-12 relative wherever scipy's is at least
//! 1e-300.

use fastcausal_stats::rank_tests::kstwo_sf;
use fastcausal_stats::{Alternative, SortedValues, StatsError, ks_2samp, mann_whitney_u};
use serde_json::Value;

const TOLERANCE: f64 = 1e-12;

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/reference/rank_tests.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read rank_tests.json")).expect("parse rank_tests.json")
}

/// The splitmix64 stream of make_rank_tests.py: uniform doubles in [0, 1), optionally
/// `floor(u * levels)`, plus `shift`.
fn splitmix_sample(seed: u64, n: usize, levels: u64, shift: f64) -> Vec<f64> {
    (1..=n as u64)
        .map(|i| {
            let mut z = seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let mut u = (z >> 11) as f64 * 2f64.powi(-53);
            if levels > 0 {
                u = (u * levels as f64).floor();
            }
            u + shift
        })
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

/// (control, treatment), sorted through the state type the engine uses.
fn samples(case: &Value) -> (Vec<f64>, Vec<f64>) {
    let (control, treatment) = if let Some(g) = case.get("generate") {
        let seed = g["seed"].as_u64().unwrap();
        let levels = g["levels"].as_u64().unwrap();
        let shift = g["shift"].as_f64().unwrap();
        let t = splitmix_sample(seed + 1, g["n_treatment"].as_u64().unwrap() as usize, levels, shift);
        let c = splitmix_sample(seed, g["n_control"].as_u64().unwrap() as usize, levels, 0.0);
        let head = |v: &Value| -> Vec<u64> { v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect() };
        let bits = |v: &[f64]| -> Vec<u64> { v.iter().take(3).map(|x| x.to_bits()).collect() };
        assert_eq!(bits(&t), head(&case["treatment_head_bits"]), "generator mismatch");
        assert_eq!(bits(&c), head(&case["control_head_bits"]), "generator mismatch");
        (c, t)
    } else {
        (floats(&case["control"]), floats(&case["treatment"]))
    };
    let mut c = SortedValues::from_values(control);
    let mut t = SortedValues::from_values(treatment);
    c.sort();
    t.sort();
    (c.into_sorted(), t.into_sorted())
}

fn relative_error(got: f64, want: f64) -> f64 {
    if got == want { 0.0 } else { (got - want).abs() / got.abs().max(want.abs()) }
}

/// Records a p-value comparison; returns a failure message when out of tolerance.
fn check_p(label: &str, got: f64, want: f64, worst: &mut (f64, String)) -> Option<String> {
    if want < 1e-300 {
        return (got >= 1e-290).then(|| format!("{label}: p = {got:e}, scipy {want:e}"));
    }
    let r = relative_error(got, want);
    if r > worst.0 {
        *worst = (r, label.to_string());
    }
    (r > TOLERANCE).then(|| format!("{label}: p = {got:.17e}, scipy {want:.17e} (rel {r:.2e})"))
}

#[test]
fn mann_whitney_matches_scipy() {
    let json = reference();
    let mut failures = Vec::new();
    let mut worst = (0.0, String::new());
    let mut count = 0;
    for case in json["cases"].as_array().unwrap() {
        let Some(expected) = case.get("mann_whitney") else { continue };
        let name = case["name"].as_str().unwrap();
        let (control, treatment) = samples(case);
        for e in expected.as_array().unwrap() {
            let alt = Alternative::parse(e["alternative"].as_str().unwrap()).unwrap();
            let continuity = e["continuity"].as_bool().unwrap();
            let label = format!("{name} / {alt} / continuity={continuity}");
            count += 1;
            match (mann_whitney_u(&control, &treatment, alt, continuity), e["pvalue"].as_f64()) {
                (Ok(r), Some(p)) => {
                    let u = f64::from_bits(e["statistic_bits"].as_u64().unwrap());
                    if r.u1 != u {
                        failures.push(format!("{label}: U1 = {}, scipy {u}", r.u1));
                    }
                    if r.u0 + r.u1 != (r.n0 * r.n1) as f64 {
                        failures.push(format!("{label}: U0 + U1 != n0 n1"));
                    }
                    failures.extend(check_p(&label, r.p_value, p, &mut worst));
                }
                (Err(StatsError::UndefinedMetric { .. }), None) => {}
                (got, want) => failures.push(format!("{label}: got {got:?}, scipy p = {want:?}")),
            }
        }
    }
    println!("Mann-Whitney: {count} comparisons, worst p-value relative error {:.2e} ({})", worst.0, worst.1);
    assert!(count > 250);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn kolmogorov_smirnov_matches_scipy() {
    let json = reference();
    let mut failures = Vec::new();
    let mut worst = (0.0, String::new());
    let mut count = 0;
    let mut exact_failed_seen = 0;
    for case in json["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (control, treatment) = samples(case);
        for e in case["ks"].as_array().unwrap() {
            let alt = Alternative::parse(e["alternative"].as_str().unwrap()).unwrap();
            let label = format!("{name} / {alt}");
            count += 1;
            let r = match ks_2samp(&control, &treatment, alt) {
                Ok(r) => r,
                Err(err) => {
                    failures.push(format!("{label}: {err}"));
                    continue;
                }
            };
            let d = f64::from_bits(e["statistic_bits"].as_u64().unwrap());
            if r.d != d {
                failures.push(format!("{label}: D = {:e}, scipy {d:e}", r.d));
            }
            // A stored sample's location is compared as the same decimal the samples were read
            // from; a generated one by its bits.
            let location = match e.get("location_bits") {
                Some(b) if case.get("generate").is_some() => f64::from_bits(b.as_u64().unwrap()),
                _ => e["location"].as_f64().unwrap(),
            };
            if r.location != location {
                failures.push(format!("{label}: location {} vs scipy {}", r.location, e["location"]));
            }
            if i64::from(r.sign) != e["sign"].as_i64().unwrap() {
                failures.push(format!("{label}: sign {} vs scipy {}", r.sign, e["sign"]));
            }
            if e["exact_failed"].as_bool().unwrap() {
                exact_failed_seen += 1;
                if r.exact {
                    failures.push(format!("{label}: scipy's exact computation failed but ours did not"));
                }
            }
            failures.extend(check_p(&label, r.p_value, e["pvalue"].as_f64().unwrap(), &mut worst));
        }
    }
    println!("KS: {count} comparisons, worst p-value relative error {:.2e} ({})", worst.0, worst.1);
    assert!(count > 120 && exact_failed_seen > 3);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn kstwo_sf_matches_scipy() {
    let json = reference();
    let mut failures = Vec::new();
    let mut worst = (0.0, String::new());
    let rows = json["kstwo_sf"].as_array().unwrap();
    for row in rows {
        let n = row[0].as_u64().unwrap();
        let d = f64::from_bits(row[1].as_u64().unwrap());
        let want = row[2].as_f64().unwrap();
        let label = format!("kstwo.sf({d:e}, {n})");
        failures.extend(check_p(&label, kstwo_sf(d, n), want, &mut worst));
    }
    println!("kstwo.sf: {} points, worst relative error {:.2e} ({})", rows.len(), worst.0, worst.1);
    assert!(rows.len() > 500);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
