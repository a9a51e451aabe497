//! Fitted models as values: a documented JSON document, and prediction from it by column name.
//!
//! A model is what a fit leaves that prediction needs — the formula, the sorted levels of each
//! categorical factor (they fix the design's columns), the coefficients under their term names,
//! their covariance, and for least squares the residual variance — plus the fit's summary
//! statistics for the record. It is plain data ([`ModelDocument`], serialised as JSON; never code,
//! never pickle), so it can be stored, versioned, diffed, read by other tools and applied later.
//!
//! [`Predictor`] applies a document to new rows. It rebuilds the design from the formula and the
//! stored levels, checks that it yields exactly the stored term names (so a document edited out of
//! step with its formula is refused), and evaluates each row's design row from the row's values
//! of the formula's factors — which the front end finds in the new data **by name**, the names
//! written in the formula. The prediction is `xᵀβ`, its standard error `√(xᵀ V x)`; least
//! squares adds the residual variance for prediction intervals, logistic regression maps the
//! linear predictor and its interval through the logistic function.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::formula::{Design, DesignColumn, Formula};
use crate::error::{Result, StatsError};

/// The document's `format` value.
pub const FORMAT: &str = "fastcausal.model";
/// The document layout version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What kind of model a document holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Least squares (`ols`, `wls`): the prediction is `xᵀβ`.
    Linear,
    /// Logistic regression: the prediction is `σ(xᵀβ)`.
    Logistic,
}

/// The sorted levels of one categorical factor, as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorLevels {
    /// The factor as written in the formula (e.g. `C(x_cat1)`).
    pub factor: String,
    pub levels: Vec<String>,
}

/// A fitted model. See the [module documentation](self) for what each part is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDocument {
    /// Always [`FORMAT`].
    pub format: String,
    /// The layout version, [`FORMAT_VERSION`].
    pub format_version: u32,
    pub kind: ModelKind,
    /// The SQL function that fitted it (`ols`, `wls`, `logistic`).
    pub function: String,
    pub formula: String,
    /// One entry per categorical factor, in the order of their first appearance in the formula.
    pub levels: Vec<FactorLevels>,
    /// Term names, in design order.
    pub terms: Vec<String>,
    /// One per term; `null` for a term dropped as collinear.
    pub coefficients: Vec<Option<f64>>,
    /// Covariance of the kept coefficients, row-major, in term order.
    pub covariance: Vec<f64>,
    /// The covariance type it was estimated with (statsmodels' name).
    pub cov_type: String,
    pub n: u64,
    pub df_resid: f64,
    /// Least squares: σ², the residual variance (per unit weight), for prediction intervals.
    #[serde(default)]
    pub residual_variance: Option<f64>,
    /// The fit's other numeric statistics (R², log-likelihood, AIC, …), for the record.
    #[serde(default)]
    pub statistics: BTreeMap<String, f64>,
}

/// One row's prediction: the linear predictor `xᵀβ` and its standard error `√(xᵀ V x)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub linear_predictor: f64,
    pub std_error: f64,
}

/// A document made ready to predict: the design rebuilt from the formula and the stored levels.
#[derive(Debug, Clone)]
pub struct Predictor {
    pub formula: Formula,
    pub design: Design,
    pub kind: ModelKind,
    columns: Vec<DesignColumn>,
    /// Levels per categorical factor (in [`Design::keys`] order), as text.
    levels: Vec<Vec<String>>,
    /// Indices of the kept terms and their coefficients.
    kept: Vec<usize>,
    beta: Vec<f64>,
    covariance: Vec<f64>,
    pub residual_variance: Option<f64>,
    pub df_resid: f64,
    /// The covariance type the coefficients' covariance was estimated with.
    pub cov_type: String,
}

fn invalid(message: String) -> StatsError {
    StatsError::InvalidOption { option: "model".into(), message }
}

impl Predictor {
    /// Checks a document and prepares it.
    pub fn new(doc: &ModelDocument) -> Result<Predictor> {
        if doc.format != FORMAT || doc.format_version != FORMAT_VERSION {
            return Err(invalid(format!(
                "not a model document of this version (format '{}' version {}, expected '{FORMAT}' version {FORMAT_VERSION})",
                doc.format, doc.format_version
            )));
        }
        let formula = Formula::parse(&doc.formula)?;
        let design = formula.design();
        let mut levels = Vec::with_capacity(design.keys.len());
        for &f in &design.keys {
            let code = &formula.factors[f].code;
            let entry = doc
                .levels
                .iter()
                .find(|l| &l.factor == code)
                .ok_or_else(|| invalid(format!("the levels of categorical factor {code} are missing")))?;
            levels.push(entry.levels.clone());
        }
        let typed: Vec<Vec<crate::keyed::KeyValue>> =
            levels.iter().map(|l| l.iter().map(|t| crate::keyed::KeyValue::Text(t.clone())).collect()).collect();
        let columns = design.columns(&formula, &typed);
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        if names != doc.terms.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(invalid(format!(
                "its terms ({}) are not the design of its formula and levels ({})",
                doc.terms.join(", "),
                names.join(", ")
            )));
        }
        if doc.coefficients.len() != doc.terms.len() {
            return Err(invalid(format!("{} coefficients for {} terms", doc.coefficients.len(), doc.terms.len())));
        }
        let kept: Vec<usize> = (0..doc.terms.len()).filter(|&t| doc.coefficients[t].is_some()).collect();
        if doc.covariance.len() != kept.len() * kept.len() {
            return Err(invalid(format!(
                "a covariance of {} entries for {} kept coefficients",
                doc.covariance.len(),
                kept.len()
            )));
        }
        if doc.coefficients.iter().flatten().chain(&doc.covariance).any(|x| !x.is_finite()) {
            return Err(invalid("it holds a coefficient or covariance that is not a finite number".into()));
        }
        let beta = kept.iter().map(|&t| doc.coefficients[t].expect("kept")).collect();
        Ok(Predictor {
            formula,
            design,
            kind: doc.kind,
            columns,
            levels,
            kept,
            beta,
            covariance: doc.covariance.clone(),
            residual_variance: doc.residual_variance,
            df_resid: doc.df_resid,
            cov_type: doc.cov_type.clone(),
        })
    }

    /// Names of the categorical factors (in [`Design::keys`] order) with their levels.
    pub fn factor_levels(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.design.keys.iter().zip(&self.levels).map(|(&f, l)| (self.formula.factors[f].code.as_str(), l.as_slice()))
    }

    /// Whether intervals use Student's t with the residual degrees of freedom (least squares with
    /// classical errors) rather than the normal distribution (robust or clustered errors, and
    /// maximum likelihood) — statsmodels' `use_t` default.
    pub fn uses_t(&self) -> bool {
        self.kind == ModelKind::Linear && self.cov_type == "nonrobust"
    }

    /// The prediction for one row, given the text of each categorical factor's value (in
    /// [`Design::keys`] order) and the value of each of [`Design::values`].
    pub fn predict(&self, keys: &[&str], values: &[f64]) -> Result<Prediction> {
        let mut at = Vec::with_capacity(keys.len());
        for ((name, levels), key) in self.factor_levels().zip(keys) {
            match levels.iter().position(|l| l == key) {
                Some(i) => at.push(i),
                None => {
                    return Err(invalid(format!(
                        "{name} is '{key}', a level the model was not fitted with (levels: {})",
                        levels.join(", ")
                    )));
                }
            }
        }
        let x: Vec<f64> = self
            .kept
            .iter()
            .map(|&t| {
                let c = &self.columns[t];
                if c.levels.iter().all(|&(k, level)| at[k] == level) { c.value.map_or(1.0, |v| values[v]) } else { 0.0 }
            })
            .collect();
        let r = x.len();
        let eta = x.iter().zip(&self.beta).map(|(a, b)| a * b).sum();
        let var: f64 = (0..r).map(|a| x[a] * (0..r).map(|b| self.covariance[a * r + b] * x[b]).sum::<f64>()).sum();
        Ok(Prediction { linear_predictor: eta, std_error: var.max(0.0).sqrt() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> ModelDocument {
        ModelDocument {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            kind: ModelKind::Linear,
            function: "ols".into(),
            formula: "y ~ C(g) + x".into(),
            levels: vec![FactorLevels { factor: "C(g)".into(), levels: vec!["a".into(), "b".into()] }],
            terms: vec!["Intercept".into(), "C(g)[T.b]".into(), "x".into()],
            coefficients: vec![Some(1.0), Some(2.0), Some(3.0)],
            covariance: vec![1.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 9.0],
            cov_type: "nonrobust".into(),
            n: 10,
            df_resid: 7.0,
            residual_variance: Some(2.0),
            statistics: BTreeMap::new(),
        }
    }

    #[test]
    fn predicts_by_level_and_value() {
        let p = Predictor::new(&doc()).unwrap();
        // g = b, x = 2: 1 + 2 + 6 = 9; variance 1 + 4 + 4·9 = 41.
        let r = p.predict(&["b"], &[2.0]).unwrap();
        assert_eq!(r.linear_predictor, 9.0);
        assert!((r.std_error - 41f64.sqrt()).abs() < 1e-15);
        // g = a (the reference): 1 + 3x.
        assert_eq!(p.predict(&["a"], &[1.0]).unwrap().linear_predictor, 4.0);
        let e = p.predict(&["c"], &[1.0]).unwrap_err().to_string();
        assert!(e.contains("C(g) is 'c', a level the model was not fitted with (levels: a, b)"), "{e}");
    }

    #[test]
    fn refuses_inconsistent_documents() {
        let mut d = doc();
        d.terms[2] = "z".into();
        assert!(Predictor::new(&d).unwrap_err().to_string().contains("not the design of its formula"));
        let mut d = doc();
        d.covariance.pop();
        assert!(Predictor::new(&d).is_err());
        let mut d = doc();
        d.format_version = 99;
        assert!(Predictor::new(&d).is_err());
        // A dropped term predicts as absent.
        let mut d = doc();
        d.coefficients[1] = None;
        d.covariance = vec![1.0, 0.0, 0.0, 9.0];
        assert_eq!(Predictor::new(&d).unwrap().predict(&["b"], &[2.0]).unwrap().linear_predictor, 7.0);
    }
}
