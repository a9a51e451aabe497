//! The alternative hypothesis of a test, as scipy spells it.
//!
//! Every test in fastcausal compares treatment with control (or a sample mean with `mu`), so
//! `greater` means "treatment is greater than control" and `less` the opposite.

use crate::error::{Result, StatsError};

/// Which alternative hypothesis a p-value is computed against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Alternative {
    /// H₁: the effect is not zero (the default).
    #[default]
    TwoSided,
    /// H₁: the effect is below zero (treatment less than control).
    Less,
    /// H₁: the effect is above zero (treatment greater than control).
    Greater,
}

impl Alternative {
    /// Parses scipy's spellings (`two-sided`, `less`, `greater`; also `two_sided`).
    pub fn parse(text: &str) -> Result<Alternative> {
        match text.trim().to_ascii_lowercase().as_str() {
            "two-sided" | "two_sided" | "two sided" => Ok(Alternative::TwoSided),
            "less" => Ok(Alternative::Less),
            "greater" => Ok(Alternative::Greater),
            _ => Err(StatsError::InvalidOption {
                option: "alternative".into(),
                message: format!("unknown alternative '{text}'; use 'two-sided', 'less' or 'greater'"),
            }),
        }
    }

    /// scipy's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Alternative::TwoSided => "two-sided",
            Alternative::Less => "less",
            Alternative::Greater => "greater",
        }
    }
}

impl std::fmt::Display for Alternative {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scipy_spellings() {
        assert_eq!(Alternative::parse("two-sided").unwrap(), Alternative::TwoSided);
        assert_eq!(Alternative::parse(" Greater ").unwrap(), Alternative::Greater);
        assert_eq!(Alternative::parse("less").unwrap().to_string(), "less");
        let err = Alternative::parse("bigger").unwrap_err().to_string();
        assert!(err.contains("unknown alternative 'bigger'"), "{err}");
    }
}
