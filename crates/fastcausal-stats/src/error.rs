//! The one error type of the numerics.

/// What can go wrong while computing a statistic. Messages are meant to be shown to a user as
/// they are; the engine adds which SQL function and which group they came from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// Fewer rows than the statistic needs (after rows with NULLs were skipped).
    #[error("needs at least {needed} rows with non-NULL values, but found {found}")]
    TooFewRows { needed: u64, found: u64 },

    /// Fewer rows than the statistic needs in one part of the data (an arm, a stratum).
    #[error("{what} needs at least {needed} rows with non-NULL values, but found {found}")]
    TooFewRowsIn { what: String, needed: u64, found: u64 },

    /// The metric cannot be evaluated at the observed means (a zero denominator, say).
    #[error("the metric is undefined at the observed means: {reason}")]
    UndefinedMetric { reason: String },

    /// A metric expression that does not parse.
    #[error("invalid metric expression at character {position}: {message}")]
    InvalidMetric { position: usize, message: String },

    /// A model formula that does not parse.
    #[error("invalid formula at character {position}: {message}")]
    InvalidFormula { position: usize, message: String },

    /// A value that is NaN or infinite in a column the statistic uses.
    #[error("column '{column}' contains {value}; remove or replace such values (e.g. WHERE isfinite({column}))")]
    NonFinite { column: String, value: f64 },

    /// An option with a value the statistic cannot use.
    #[error("{option}: {message}")]
    InvalidOption { option: String, message: String },

    /// Inputs whose shapes do not fit together (a programming error in a caller).
    #[error("mismatched inputs: {0}")]
    Shape(String),

    /// A serialized state that cannot be read back.
    #[error("corrupt or incompatible state: {0}")]
    CorruptState(String),
}

/// Result with [`StatsError`].
pub type Result<T, E = StatsError> = std::result::Result<T, E>;
