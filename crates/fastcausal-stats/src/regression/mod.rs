//! Linear models from mergeable moments.
//!
//! * [`design_moments`]: [`DesignMoments`], the state — weighted central moments of a model's
//!   input columns up to order two, and four when robust errors are wanted.
//! * [`ols`]: [`ols::fit`], OLS/WLS with classical, HC0 and HC1 errors from one or more cells
//!   of moments (a cell per level of the categorical terms).
//! * [`formula`]: [`Formula`], R/patsy model formulas and the design (columns, codings) they
//!   describe.
//! * [`iv`]: [`iv::fit_iv`], two-stage least squares with unadjusted, robust and clustered errors
//!   and first-stage diagnostics, as linearmodels' IV2SLS.
//! * [`leverage`]: HC2/HC3 errors from a second pass, [`leverage::LeverageMoments`].
//! * [`logistic`]: logistic regression by exact maximum likelihood (Newton/IRLS), one pass of
//!   [`logistic::LogisticMoments`] per step.
//! * [`model`]: fitted models as JSON documents, and prediction from them by column name.
//! * [`penalized`]: ridge, lasso and elastic net from the Gram matrix, with a path and hashed
//!   k-fold cross-validation, as scikit-learn.
//! * `dots`: the vectorised, register-tiled dot products the states' inner loops are made of.
//! * [`linalg`]: the small symmetric solves, with aliased terms dropped in order.

pub mod design_moments;
mod dots;
pub mod formula;
pub mod iv;
pub mod leverage;
pub mod linalg;
pub mod logistic;
pub mod model;
pub mod ols;
pub mod penalized;

pub use design_moments::{DesignMoments, FourthSides};
pub use formula::{Design, DesignColumn, Formula};
pub use ols::{Cell, Coefficient, CovType, LinearFit, LinearSpec, fit, fourth_sides};
