//! Stored models: `CREATE [OR REPLACE] MODEL name AS <query>`, versioned JSON documents in the
//! warehouse, and the loader `predict(…)` reads them through.
//!
//! ```text
//! .fastcausal/models/<name>/v1.json     the first version: a ModelDocument (see below)
//!                           v2.json     CREATE OR REPLACE MODEL adds a version; old ones stay
//! ```
//!
//! The query of `CREATE MODEL` must give one row holding one model result (`ols`, `wls` or
//! `logistic`); its fields become a [`ModelDocument`] — the formula, the categorical levels, the
//! coefficients by term name, their covariance, the residual variance and the fit's statistics —
//! written as pretty-printed JSON. A version is written to a temporary file, synced, and renamed
//! to its final name under the warehouse lock, so a version file is either complete or absent,
//! and an existing version is never changed.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use datafusion::common::{DataFusionError, Result};
use fastcausal_stats::regression::model::{FORMAT, FORMAT_VERSION, FactorLevels, ModelDocument, ModelKind, Predictor};

use crate::error::{EngineError, EngineResult, closest};
use crate::metric_sql::plan_error;
use crate::warehouse::{Warehouse, validate_table_name};

/// A stored model version.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    pub name: String,
    pub version: u32,
    /// The document, relative to the warehouse root.
    pub file: String,
}

impl Warehouse {
    fn models_dir(&self) -> PathBuf {
        self.root().join("models")
    }

    /// Every stored model with its versions, ascending.
    pub fn models(&self) -> EngineResult<BTreeMap<String, Vec<u32>>> {
        let mut out = BTreeMap::new();
        let dir = self.models_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(EngineError::io(dir, e)),
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let versions = self.versions(&name)?;
            if !versions.is_empty() {
                out.insert(name, versions);
            }
        }
        Ok(out)
    }

    fn versions(&self, name: &str) -> EngineResult<Vec<u32>> {
        let dir = self.models_dir().join(name);
        let mut versions: Vec<u32> = match fs::read_dir(&dir) {
            Ok(entries) => entries
                .flatten()
                .filter_map(|e| {
                    let f = e.file_name().to_string_lossy().into_owned();
                    f.strip_prefix('v')?.strip_suffix(".json")?.parse().ok()
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(EngineError::io(dir, e)),
        };
        versions.sort_unstable();
        Ok(versions)
    }

    fn unknown_model(&self, name: &str) -> EngineResult<EngineError> {
        let models = self.models()?;
        let suggestion = match closest(name, models.keys().map(String::as_str)) {
            Some(c) => format!(" (did you mean '{c}'?)"),
            None if models.is_empty() => "; there are no models yet (CREATE MODEL name AS SELECT ols(…) FROM …)".into(),
            None => format!("; models: {}", models.keys().cloned().collect::<Vec<_>>().join(", ")),
        };
        Ok(EngineError::Model(format!("unknown model '{name}'{suggestion}")))
    }

    /// Stores `doc` as the next version of model `name` (the first if it is new); fails if the
    /// model exists and `replace` is false.
    pub fn save_model(&self, name: &str, doc: &ModelDocument, replace: bool) -> EngineResult<ModelEntry> {
        validate_table_name(name)?;
        let json = serde_json::to_vec_pretty(doc).expect("a model document serialises");
        let tmp_dir = self.root().join("tmp");
        fs::create_dir_all(&tmp_dir).map_err(|e| EngineError::io(&tmp_dir, e))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!("model-{name}-"))
            .suffix(".json.partial")
            .tempfile_in(&tmp_dir)
            .map_err(|e| EngineError::io(&tmp_dir, e))?;
        tmp.write_all(&json).and_then(|_| tmp.write_all(b"\n")).map_err(|e| EngineError::io(tmp.path(), e))?;
        tmp.as_file().sync_all().map_err(|e| EngineError::io(tmp.path(), e))?;
        let _lock = self.lock()?;
        let versions = self.versions(name)?;
        if !versions.is_empty() && !replace {
            return Err(EngineError::Model(format!(
                "model '{name}' already exists (version {}); CREATE OR REPLACE MODEL {name} AS … stores a new version",
                versions.last().expect("not empty")
            )));
        }
        let version = versions.last().map_or(1, |v| v + 1);
        let dir = self.models_dir().join(name);
        fs::create_dir_all(&dir).map_err(|e| EngineError::io(&dir, e))?;
        let file = format!("models/{name}/v{version}.json");
        let target = self.root().join(&file);
        tmp.persist_noclobber(&target).map_err(|e| EngineError::io(&target, e.error))?;
        Ok(ModelEntry { name: name.to_owned(), version, file })
    }

    /// Model `name` at `version` (the latest if `None`), with the version read.
    pub fn load_model(&self, name: &str, version: Option<u32>) -> EngineResult<(u32, ModelDocument)> {
        let versions = self.versions(name)?;
        let Some(&latest) = versions.last() else {
            return Err(self.unknown_model(name)?);
        };
        let version = version.unwrap_or(latest);
        if !versions.contains(&version) {
            let list: Vec<String> = versions.iter().map(u32::to_string).collect();
            return Err(EngineError::Model(format!(
                "model '{name}' has no version {version}; its versions: {}",
                list.join(", ")
            )));
        }
        let path = self.models_dir().join(name).join(format!("v{version}.json"));
        let bytes = fs::read(&path).map_err(|e| EngineError::io(&path, e))?;
        let doc = serde_json::from_slice(&bytes)
            .map_err(|e| EngineError::Model(format!("{}: not a readable model document: {e}", path.display())))?;
        Ok((version, doc))
    }

    /// Removes a model and all its versions.
    pub fn drop_model(&self, name: &str) -> EngineResult<Vec<u32>> {
        let _lock = self.lock()?;
        let versions = self.versions(name)?;
        if versions.is_empty() {
            return Err(self.unknown_model(name)?);
        }
        let dir = self.models_dir().join(name);
        fs::remove_dir_all(&dir).map_err(|e| EngineError::io(&dir, e))?;
        Ok(versions)
    }
}

/// Whether a type is a model result struct (`ols`, `wls`, `logistic`, `iv`, …).
pub fn is_model_type(t: &DataType) -> bool {
    match t {
        DataType::Struct(fields) => {
            ["formula", "coefficients", "cov_type"].iter().all(|n| fields.iter().any(|f| f.name() == n))
        }
        _ => false,
    }
}

fn model_error(msg: String) -> DataFusionError {
    plan_error(format!("CREATE MODEL: {msg}"))
}

/// The model document of a query's result: one row, one model column.
pub fn document_from_batches(batches: &[RecordBatch]) -> Result<ModelDocument> {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Err(model_error("the query returned no rows".into()));
    };
    let schema = batch.schema();
    let models: Vec<usize> =
        (0..schema.fields().len()).filter(|&i| is_model_type(schema.field(i).data_type())).collect();
    let index = match models.as_slice() {
        [i] => *i,
        [] => {
            return Err(model_error(
                "the query returns no model; select one ols(…), wls(…) or logistic(…) result".into(),
            ));
        }
        _ => return Err(model_error(format!("the query returns {} models; select one", models.len()))),
    };
    if rows != 1 {
        return Err(model_error(format!(
            "the query returns {rows} rows (one model per group?); a stored model is one fit — select one row, e.g. with WHERE"
        )));
    }
    let model = batch.column(index).as_struct();
    if model.is_null(0) {
        return Err(model_error("the model is NULL (the query saw no rows)".into()));
    }
    let field = |name: &str| -> Result<&ArrayRef> {
        model.column_by_name(name).ok_or_else(|| model_error(format!("the result has no field '{name}'")))
    };
    let kind = if model.column_by_name("pseudo_r_squared").is_some() {
        ModelKind::Logistic
    } else if model.column_by_name("first_stage").is_some() {
        return Err(model_error("iv() results cannot be stored as models yet; store an ols(…) or logistic(…)".into()));
    } else {
        ModelKind::Linear
    };
    let text = |name: &str| -> Result<String> { Ok(field(name)?.as_string::<i32>().value(0).to_owned()) };
    let float =
        |a: &ArrayRef, i: usize| -> Option<f64> { a.is_valid(i).then(|| a.as_primitive::<Float64Type>().value(i)) };
    let coefficients = field("coefficients")?.as_list::<i32>().value(0);
    let coefficients = coefficients.as_struct();
    let terms = coefficients.column_by_name("term").expect("coefficient rows have a term").as_string::<i32>();
    let estimates = coefficients.column_by_name("estimate").expect("coefficient rows have an estimate");
    let covariance = field("covariance")?.as_list::<i32>().value(0);
    let covariance = covariance.as_primitive::<Float64Type>();
    let levels = match model.column_by_name("levels") {
        Some(l) => {
            let l = l.as_list::<i32>().value(0);
            let l = l.as_struct();
            let factors = l.column_by_name("factor").expect("levels rows have a factor").as_string::<i32>();
            let values = l.column_by_name("levels").expect("levels rows have levels").as_list::<i32>();
            (0..l.len())
                .map(|i| FactorLevels {
                    factor: factors.value(i).to_owned(),
                    levels: values
                        .value(i)
                        .as_string::<i32>()
                        .iter()
                        .map(|s| s.unwrap_or_default().to_owned())
                        .collect(),
                })
                .collect()
        }
        None => Vec::new(),
    };
    let mut statistics = BTreeMap::new();
    for (f, column) in model.fields().iter().zip(model.columns()) {
        if f.data_type() == &DataType::Float64
            && let Some(v) = float(column, 0)
        {
            statistics.insert(f.name().clone(), v);
        }
    }
    let residual_variance = match kind {
        ModelKind::Linear => float(field("residual_std_error")?, 0).map(|s| s * s),
        ModelKind::Logistic => None,
    };
    let doc = ModelDocument {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        kind,
        function: match kind {
            ModelKind::Linear => "ols".into(),
            ModelKind::Logistic => "logistic".into(),
        },
        formula: text("formula")?,
        levels,
        terms: terms.iter().map(|t| t.unwrap_or_default().to_owned()).collect(),
        coefficients: (0..estimates.len()).map(|i| float(estimates, i)).collect(),
        covariance: covariance.values().to_vec(),
        cov_type: text("cov_type")?,
        n: field("n")?.as_primitive::<Int64Type>().value(0) as u64,
        df_resid: float(field("df_resid")?, 0).unwrap_or(f64::NAN),
        residual_variance,
        statistics,
    };
    // Refuse to store what could not be applied.
    Predictor::new(&doc).map_err(|e| model_error(e.to_string()))?;
    Ok(doc)
}

/// The one-row result of `CREATE MODEL`: name, version, file, kind and formula.
pub fn entry_batch(entry: &ModelEntry, doc: &ModelDocument) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("version", DataType::UInt32, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("function", DataType::Utf8, false),
        Field::new("formula", DataType::Utf8, false),
    ]);
    let text = |s: &str| Arc::new(StringArray::from(vec![s.to_owned()])) as ArrayRef;
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            text(&entry.name),
            Arc::new(UInt32Array::from(vec![entry.version])),
            text(&entry.file),
            text(&doc.function),
            text(&doc.formula),
        ],
    )
    .expect("the columns match the schema")
}

/// Whether `sql` may hold a `CREATE [OR REPLACE] MODEL` statement (a cheap test on the text, so
/// other SQL is parsed exactly as before).
pub fn mentions_create_model(sql: &str) -> bool {
    let words: Vec<String> = sql.split_whitespace().take(64).map(str::to_ascii_lowercase).collect();
    let lower = sql.to_ascii_lowercase();
    lower.contains("model") && (words.windows(2).any(|w| w == ["create", "model"]) || lower.contains("replace model"))
}

/// Splits SQL text into statements at the `;` that are outside quotes and comments.
pub fn split_statements(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let (mut out, mut start, mut i) = (Vec::new(), 0, 0);
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    i += 1;
                }
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b';' => {
                out.push(&sql[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&sql[start.min(sql.len())..]);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

/// `CREATE [OR REPLACE] MODEL name AS <query>`: the name, whether to replace, and the query text;
/// `None` for any other statement.
pub fn create_model_prefix(statement: &str) -> Result<Option<(String, bool, &str)>> {
    let mut rest = statement.trim_start();
    let word = |rest: &mut &str| -> String {
        let s = rest.trim_start();
        let end = s.find(|c: char| c.is_whitespace() || c == '(').unwrap_or(s.len());
        *rest = &s[end..];
        s[..end].to_string()
    };
    if !word(&mut rest).eq_ignore_ascii_case("create") {
        return Ok(None);
    }
    let mut next = word(&mut rest);
    let mut replace = false;
    if next.eq_ignore_ascii_case("or") {
        if !word(&mut rest).eq_ignore_ascii_case("replace") {
            return Ok(None);
        }
        replace = true;
        next = word(&mut rest);
    }
    if !next.eq_ignore_ascii_case("model") {
        return Ok(None);
    }
    let name = word(&mut rest);
    let name = name.trim_matches('"').to_string();
    validate_table_name(&name)
        .map_err(|e| plan_error(format!("CREATE MODEL: {e}").replace("table name", "model name")))?;
    if !word(&mut rest).eq_ignore_ascii_case("as") {
        return Err(plan_error(format!(
            "CREATE MODEL {name}: expected AS and a query, e.g. CREATE MODEL {name} AS SELECT ols('y ~ x') FROM t"
        )));
    }
    Ok(Some((name, replace, rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_outside_quotes_and_comments() {
        let sql = "SELECT 'a;b' AS \"c;d\"; -- x; y\nCREATE MODEL m AS SELECT 1 /* ; */; ";
        let parts = split_statements(sql);
        assert_eq!(parts, vec!["SELECT 'a;b' AS \"c;d\"", " -- x; y\nCREATE MODEL m AS SELECT 1 /* ; */"]);
        assert!(mentions_create_model(sql));
        assert!(!mentions_create_model("SELECT model FROM t"));
    }

    #[test]
    fn create_model_statements() {
        let (name, replace, q) = create_model_prefix("create or replace model m2 as select 1").unwrap().unwrap();
        assert_eq!((name.as_str(), replace, q.trim()), ("m2", true, "select 1"));
        assert!(create_model_prefix("CREATE TABLE t AS SELECT 1").unwrap().is_none());
        assert!(create_model_prefix("CREATE MODEL M AS SELECT 1").unwrap_err().to_string().contains("'m'"));
        assert!(create_model_prefix("CREATE MODEL m SELECT 1").unwrap_err().to_string().contains("expected AS"));
    }

    #[test]
    fn versions_are_added_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let w = Warehouse::new(dir.path());
        let doc = ModelDocument {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            kind: ModelKind::Linear,
            function: "ols".into(),
            formula: "y ~ x".into(),
            levels: vec![],
            terms: vec!["Intercept".into(), "x".into()],
            coefficients: vec![Some(1.0), Some(2.0)],
            covariance: vec![1.0, 0.0, 0.0, 1.0],
            cov_type: "nonrobust".into(),
            n: 3,
            df_resid: 1.0,
            residual_variance: Some(1.0),
            statistics: BTreeMap::new(),
        };
        assert_eq!(w.save_model("m", &doc, false).unwrap().version, 1);
        assert!(w.save_model("m", &doc, false).unwrap_err().to_string().contains("already exists (version 1)"));
        let second = ModelDocument { coefficients: vec![Some(5.0), Some(2.0)], ..doc.clone() };
        assert_eq!(w.save_model("m", &second, true).unwrap().file, "models/m/v2.json");
        assert_eq!(w.load_model("m", None).unwrap(), (2, second));
        assert_eq!(w.load_model("m", Some(1)).unwrap(), (1, doc));
        assert!(w.load_model("m", Some(7)).unwrap_err().to_string().contains("has no version 7; its versions: 1, 2"));
        assert!(w.load_model("n", None).unwrap_err().to_string().contains("unknown model 'n' (did you mean 'm'?)"));
        assert_eq!(w.models().unwrap().get("m"), Some(&vec![1, 2]));
        assert_eq!(w.drop_model("m").unwrap(), vec![1, 2]);
        assert!(w.models().unwrap().is_empty());
        // Nothing was left half-written.
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
