//! Errors: the engine's own ([`EngineError`]) and the translation of any DataFusion error into
//! one clear line for a person ([`user_message`]).

use std::path::PathBuf;

use datafusion::common::utils::datafusion_strsim::levenshtein;
use datafusion::common::{DataFusionError, SchemaError};
use fastcausal_stats::StatsError;

/// Errors of the warehouse, import and data generation.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("unknown table '{name}'{suggestion}")]
    UnknownTable { name: String, suggestion: String },
    #[error("table '{0}' already exists; use --replace to overwrite it, or drop it first")]
    TableExists(String),
    #[error(
        "'{name}' is not a valid table name: use lower-case letters, digits and _, starting with a letter or _ (e.g. '{suggestion}')"
    )]
    InvalidTableName { name: String, suggestion: String },
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("warehouse catalog {path} is damaged: {message}")]
    Catalog { path: PathBuf, message: String },
    /// A stored model that cannot be found, written or read, in words for a person.
    #[error("{0}")]
    Model(String),
    #[error("interrupted; nothing was changed")]
    Interrupted,
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

impl EngineError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io { path: path.into(), source }
    }
    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        EngineError::Input { path: path.into(), message: message.into() }
    }
}

/// Result with [`EngineError`].
pub type EngineResult<T> = std::result::Result<T, EngineError>;

/// A statistic's error as a DataFusion error, prefixed with the SQL call it came from.
pub fn stats_error(label: &str, e: StatsError) -> DataFusionError {
    DataFusionError::Execution(format!("{label}: {e}"))
}

/// The candidate closest to `name` by edit distance, if it is plausibly a typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (levenshtein(&name.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// One clear message for a person: no "Error during planning:" prefixes, no backtraces, columns
/// named with suggestions.
pub fn user_message(e: &DataFusionError) -> String {
    match e {
        DataFusionError::Context(_, inner) => user_message(inner),
        DataFusionError::Shared(inner) => user_message(inner),
        DataFusionError::Diagnostic(_, inner) => user_message(inner),
        DataFusionError::SchemaError(schema_error, _)
            if matches!(schema_error.as_ref(), SchemaError::FieldNotFound { .. }) =>
        {
            let SchemaError::FieldNotFound { field, valid_fields } = schema_error.as_ref() else { unreachable!() };
            let names: Vec<String> = valid_fields.iter().map(|c| c.name.clone()).collect();
            let mut msg = format!("unknown column '{}'", field.name);
            if let Some(c) = closest(&field.name, names.iter().map(String::as_str)) {
                msg.push_str(&format!(" (did you mean '{c}'?)"));
            }
            if !names.is_empty() {
                let mut unique = names.clone();
                unique.dedup();
                msg.push_str(&format!("; columns: {}", unique.join(", ")));
            }
            msg
        }
        DataFusionError::ArrowError(inner, _) => format!("{inner}"),
        DataFusionError::External(inner) => match inner.downcast_ref::<DataFusionError>() {
            Some(df) => user_message(df),
            None => inner.to_string(),
        },
        DataFusionError::Plan(m)
        | DataFusionError::Execution(m)
        | DataFusionError::NotImplemented(m)
        | DataFusionError::Configuration(m) => m.clone(),
        DataFusionError::SQL(e, _) => format!("SQL syntax error: {}", strip_prefix(&e.to_string())),
        other => strip_prefix(&other.to_string()),
    }
}

fn strip_prefix(s: &str) -> String {
    let mut s = s.trim();
    for p in ["Error during planning: ", "Execution error: ", "sql parser error: ", "SQL error: ParserError(\""] {
        if let Some(rest) = s.strip_prefix(p) {
            s = rest;
        }
    }
    s.trim_end_matches("\")").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_names() {
        assert_eq!(closest("nmerator", ["numerator", "denominator", "x1"]), Some("numerator"));
        assert_eq!(closest("zzz", ["numerator", "x1"]), None);
    }
}
