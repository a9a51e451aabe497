//! The arms of an experiment, read from a group's keyed states.
//!
//! Two-sample statistics key their states by arm (and, when post-stratified, by stratum).
//! [`Arms`] regroups those cells by arm, picks the control arm (the first in sorted order, or
//! the one named by `control =>`), and gives the clear errors a user needs when the arm column
//! does not hold what the test expects.

use datafusion::common::{DataFusionError, Result};
use fastcausal_stats::{KeyValue, Keyed};

/// One group's cells, by arm (in sorted order), each with its strata (in sorted order).
pub struct Arms<'a, S> {
    arms: Vec<(&'a KeyValue, Vec<(Option<&'a KeyValue>, &'a S)>)>,
}

fn plan(msg: String) -> DataFusionError {
    DataFusionError::Plan(msg)
}

fn list(values: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = values.collect();
    if all.len() > 12 { format!("{}, … ({} in all)", all[..12].join(", "), all.len()) } else { all.join(", ") }
}

impl<'a, S> Arms<'a, S> {
    /// Regroups `cells` keyed by (arm) or, when `stratified`, (arm, stratum).
    pub fn new(cells: &'a Keyed<S>, stratified: bool) -> Self {
        let mut arms: Vec<(&KeyValue, Vec<(Option<&KeyValue>, &S)>)> = Vec::new();
        for (key, state) in cells.entries() {
            let stratum = if stratified { key.get(1) } else { None };
            match arms.last_mut() {
                Some((arm, cells)) if *arm == &key[0] => cells.push((stratum, state)),
                _ => arms.push((&key[0], vec![(stratum, state)])),
            }
        }
        Arms { arms }
    }

    /// Number of arms.
    pub fn len(&self) -> usize {
        self.arms.len()
    }

    /// Whether there is no arm.
    pub fn is_empty(&self) -> bool {
        self.arms.is_empty()
    }

    /// The arm's value as shown in results (`0`, `1`, `B`).
    pub fn label(&self, i: usize) -> String {
        self.arms[i].0.to_string()
    }

    /// All arm labels, in order.
    pub fn labels(&self) -> Vec<String> {
        (0..self.len()).map(|i| self.label(i)).collect()
    }

    /// The single (unstratified) state of arm `i`.
    pub fn state(&self, i: usize) -> &'a S {
        self.arms[i].1[0].1
    }

    /// The index of the control arm: `control` if given (it must be an arm), else the first.
    pub fn control_index(&self, control: Option<&KeyValue>, column: &str, label: &str) -> Result<usize> {
        match control {
            None => Ok(0),
            Some(c) => self.arms.iter().position(|(a, _)| *a == c).ok_or_else(|| {
                plan(format!(
                    "{label}: control => {c} is not a value of the arm column '{column}' here; its values are {}",
                    list(self.arms.iter().map(|(a, _)| a.to_string()))
                ))
            }),
        }
    }

    /// (control, treatment) of a two-arm test, or an error that lists the arms found.
    pub fn two_arms(&self, control: Option<&KeyValue>, column: &str, label: &str) -> Result<(usize, usize)> {
        let name = label.split('(').next().unwrap_or(label);
        match self.arms.len() {
            2 => {
                let c = self.control_index(control, column, label)?;
                Ok((c, 1 - c))
            }
            1 => Err(plan(format!(
                "{label}: the arm column '{column}' has a single value ({}) here, but {name} compares two arms; \
                 check the column or the WHERE clause",
                self.label(0)
            ))),
            k => Err(plan(format!(
                "{label}: the arm column '{column}' has {k} values ({}), but {name} compares exactly two arms; \
                 use ttests_2samp to compare every arm with a control (control => picks it), \
                 or keep two arms with WHERE {column} IN (…)",
                list(self.arms.iter().map(|(a, _)| a.to_string()))
            ))),
        }
    }

    /// The cells of arms `i` and `j` aligned by stratum, with the strata's names; every stratum
    /// must be present in both arms.
    #[allow(clippy::type_complexity)]
    pub fn aligned_cells(&self, i: usize, j: usize, label: &str) -> Result<(Vec<&'a S>, Vec<&'a S>, Vec<String>)> {
        let (a, b) = (&self.arms[i].1, &self.arms[j].1);
        let missing = |s: Option<&KeyValue>, arm: usize| {
            plan(format!(
                "{label}: stratum {} has no rows in arm {}; post-stratification needs every stratum in both arms \
                 (filter the stratum out or merge it into another)",
                s.map_or(String::new(), |v| v.to_string()),
                self.label(arm)
            ))
        };
        let (mut x, mut y, mut names) = (Vec::new(), Vec::new(), Vec::new());
        let (mut p, mut q) = (0, 0);
        while p < a.len() || q < b.len() {
            match (a.get(p), b.get(q)) {
                (Some((sa, ca)), Some((sb, cb))) if sa == sb => {
                    x.push(*ca);
                    y.push(*cb);
                    names.push(sa.map_or(String::new(), |v| v.to_string()));
                    p += 1;
                    q += 1;
                }
                (Some((sa, _)), Some((sb, _))) => return Err(if sa < sb { missing(*sa, j) } else { missing(*sb, i) }),
                (Some((sa, _)), None) => return Err(missing(*sa, j)),
                (None, Some((sb, _))) => return Err(missing(*sb, i)),
                (None, None) => unreachable!("loop condition"),
            }
        }
        Ok((x, y, names))
    }
}

/// The `control => value` option of `function`, if given, as an arm value.
pub fn control_arm(
    function: &str,
    control: Option<&serde_json::Value>,
) -> datafusion::common::Result<Option<KeyValue>> {
    control
        .map(key_value)
        .transpose()
        .map_err(|m| datafusion::common::DataFusionError::Plan(format!("{function}: {m}")))
}

/// An arm value written in SQL (`control => 1`, `control => 'B'`), from its JSON form.
pub fn key_value(v: &serde_json::Value) -> Result<KeyValue, String> {
    match v {
        serde_json::Value::Number(n) => {
            n.as_f64().map(KeyValue::number).ok_or_else(|| format!("{n} is not a usable arm value"))
        }
        serde_json::Value::String(s) => Ok(KeyValue::Text(s.clone())),
        other => Err(format!("{other} is not an arm value; use a number or a quoted string")),
    }
}
