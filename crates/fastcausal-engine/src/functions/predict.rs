//! `predict('model' [, version => n] [, level => 0.95])`: a stored model applied to the rows of a
//! query, its regressors found **by name**.
//!
//! ```sql
//! CREATE MODEL uplift AS SELECT ols('y ~ treatment + x1 + C(x_cat1)') FROM ab;
//! SELECT user_id, predict('uplift')['prediction'] FROM new_users;
//! SELECT p['prediction'], p['pi_lower'], p['pi_upper'] FROM (SELECT predict('uplift', level => 0.9) AS p FROM t);
//! ```
//!
//! The SQL rewrite loads the model document from the warehouse (see
//! [`fastcausal_stats::regression::model`]) and turns the call into
//! `predict_model('<spec>', factors…, values…)`: the categorical factors and the numeric products
//! of the model's formula, written with the formula's column names — so each regressor is the
//! query's column of that name (a missing one is the usual "unknown column" error, with the
//! closest names), never a column at some position. The result is a struct: `prediction` (ŷ, or
//! P(y = 1) for a logistic model), `linear_predictor` (xᵀβ), `std_error` (of xᵀβ), `ci_lower` /
//! `ci_upper` (the confidence interval of the prediction: Student t with the fit's residual
//! degrees of freedom for least squares, as statsmodels' `get_prediction`; for logistic models
//! the normal interval of xᵀβ mapped through the logistic function), and `pi_lower` / `pi_upper`
//! (least squares: the prediction interval of a new observation, with the residual variance per
//! unit weight; NULL for logistic models). A row with a NULL regressor predicts NULL.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Builder, StructArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::sql::sqlparser::ast::Expr as SqlExpr;
use fastcausal_stats::distributions::{StudentT, normal_isf};
use fastcausal_stats::regression::model::{ModelDocument, ModelKind, Predictor};
use serde::{Deserialize, Serialize};

use super::regression::{inputs, parse_sql};
use crate::error::stats_error;
use crate::metric_sql::{Call, Rewritten, number_option, plan_error, string_option};

/// Loads a stored model by name (and version: `None` for the latest).
pub type ModelLoader<'a> = &'a dyn Fn(&str, Option<u32>) -> Result<(u32, ModelDocument)>;

/// The options of one call, produced by the SQL rewrite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictSpec {
    pub name: String,
    pub version: u32,
    pub level: f64,
    pub model: ModelDocument,
}

const EXAMPLE: &str = "predict('my_model', level => 0.95)";

/// The SQL rewrite of a `predict` call.
pub(crate) fn rewrite(mut call: Call, load: Option<ModelLoader<'_>>) -> Result<Rewritten> {
    let fname = call.name.clone();
    let name = call.required(0, "the model's name", EXAMPLE)?;
    let name = string_option(&fname, "model", &name)?;
    let version = match call.option(&["version"], Some(1))? {
        Some(e) => {
            let v = number_option(&fname, "version", &e)?;
            if !(v >= 1.0 && v.fract() == 0.0 && v < u32::MAX as f64) {
                return Err(plan_error(format!("{fname}: version must be a positive whole number, found {v}")));
            }
            Some(v as u32)
        }
        None => None,
    };
    let level = match call.option(&["level"], None)? {
        Some(e) => number_option(&fname, "level", &e)?,
        None => 0.95,
    };
    call.finish(&["version", "level"])?;
    if !(level > 0.0 && level < 1.0) {
        return Err(plan_error(format!("{fname}: level must be between 0 and 1, found {level}")));
    }
    let Some(load) = load else {
        return Err(plan_error(format!("{fname}: models live in a warehouse, and this session has none")));
    };
    let (version, model) = load(&name, version)?;
    let predictor = Predictor::new(&model).map_err(|e| stats_error(&format!("{fname}('{name}')"), e))?;
    let (keys, values) = inputs(&predictor.formula, &predictor.design, &[]);
    let mut args: Vec<SqlExpr> = Vec::new();
    for text in keys.iter().chain(&values[1..]) {
        args.push(parse_sql(&fname, text)?);
    }
    let spec = PredictSpec { name, version, level, model };
    Ok(Rewritten { spec: serde_json::to_string(&spec).expect("spec serialises"), args, name: Some("predict_model") })
}

/// The result fields.
fn fields() -> Fields {
    Fields::from(
        ["prediction", "linear_predictor", "std_error", "ci_lower", "ci_upper", "pi_lower", "pi_upper"]
            .map(|n| Field::new(n, DataType::Float64, true))
            .to_vec(),
    )
}

/// The registered function.
pub fn udf() -> ScalarUDF {
    ScalarUDF::from(PredictUdf { signature: Signature::variadic_any(Volatility::Immutable), cache: Mutex::default() })
}

#[derive(Debug)]
struct PredictUdf {
    signature: Signature,
    /// The last spec seen and its predictor, so a model is prepared once per query, not per batch.
    cache: Mutex<Option<(String, Arc<Prepared>)>>,
}

impl PartialEq for PredictUdf {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}
impl Eq for PredictUdf {}
impl std::hash::Hash for PredictUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "predict_model".hash(state);
    }
}

#[derive(Debug)]
struct Prepared {
    label: String,
    predictor: Predictor,
    /// The quantile of the intervals: Student t (least squares with classical errors) or normal.
    quantile: f64,
}

impl PredictUdf {
    fn prepared(&self, json: &str) -> Result<Arc<Prepared>> {
        let mut cache = self.cache.lock().expect("the cache lock is never poisoned by a panic here");
        if let Some((text, p)) = cache.as_ref()
            && text == json
        {
            return Ok(Arc::clone(p));
        }
        let spec: PredictSpec = serde_json::from_str(json)
            .map_err(|e| plan_error(format!("predict: invalid options: {e}; call it as in {EXAMPLE}")))?;
        let label = format!("predict('{}')", spec.name);
        let predictor = Predictor::new(&spec.model).map_err(|e| stats_error(&label, e))?;
        let tail = (1.0 - spec.level) / 2.0;
        let quantile = if predictor.uses_t() {
            StudentT::new(predictor.df_resid).map_err(|e| stats_error(&label, e))?.isf(tail)
        } else {
            normal_isf(tail)
        };
        let p = Arc::new(Prepared { label, predictor, quantile });
        *cache = Some((json.to_owned(), Arc::clone(&p)));
        Ok(p)
    }
}

/// A key column's value as the text a model's levels are stored as (integers without a decimal
/// point, as the fit showed them).
fn key_texts(array: &ArrayRef) -> Result<Vec<Option<String>>> {
    let text = match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => cast(array, &DataType::Utf8)?,
        t if t.is_numeric() || t == &DataType::Boolean => {
            let numbers = cast(array, &DataType::Float64)?;
            let numbers = numbers.as_primitive::<Float64Type>();
            return Ok((0..numbers.len())
                .map(|i| numbers.is_valid(i).then(|| fastcausal_stats::KeyValue::number(numbers.value(i)).to_string()))
                .collect());
        }
        other => return exec_err!("predict: a categorical factor of type {other}; it must be text or a number"),
    };
    let text = text.as_string::<i32>();
    Ok((0..text.len()).map(|i| text.is_valid(i).then(|| text.value(i).to_owned())).collect())
}

impl ScalarUDFImpl for PredictUdf {
    fn name(&self) -> &str {
        "predict_model"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(fields()))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let json = match args.args.first() {
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)))) => s.clone(),
            _ => return plan_err!("predict: call it as in {EXAMPLE}"),
        };
        let p = self.prepared(&json)?;
        let nkeys = p.predictor.design.keys.len();
        let nvalues = p.predictor.design.values.len();
        if args.args.len() != 1 + nkeys + nvalues {
            return plan_err!("{}: expected {} inputs, found {}", p.label, nkeys + nvalues, args.args.len() - 1);
        }
        let arrays: Vec<ArrayRef> = args.args[1..].iter().map(|a| a.to_array(n)).collect::<Result<_>>()?;
        let keys: Vec<Vec<Option<String>>> = arrays[..nkeys].iter().map(key_texts).collect::<Result<_>>()?;
        let mut values = Vec::with_capacity(nvalues);
        for a in &arrays[nkeys..] {
            if !a.data_type().is_numeric() && a.data_type() != &DataType::Boolean && a.data_type() != &DataType::Null {
                return plan_err!(
                    "{}: a regressor has type {}, but a number is needed (the model's formula reads it as a number)",
                    p.label,
                    a.data_type()
                );
            }
            values.push(cast(a, &DataType::Float64)?);
        }
        let values: Vec<_> = values.iter().map(|a| a.as_primitive::<Float64Type>()).collect();
        let mut out: Vec<Float64Builder> = (0..7).map(|_| Float64Builder::with_capacity(n)).collect();
        let mut row_keys: Vec<&str> = Vec::with_capacity(nkeys);
        let mut row_values = vec![0.0; nvalues];
        for i in 0..n {
            row_keys.clear();
            let mut null = false;
            for k in &keys {
                match &k[i] {
                    Some(t) => row_keys.push(t),
                    None => null = true,
                }
            }
            for (v, a) in row_values.iter_mut().zip(&values) {
                if a.is_null(i) {
                    null = true;
                } else {
                    *v = a.value(i);
                }
            }
            if null {
                out.iter_mut().for_each(|b| b.append_null());
                continue;
            }
            if let Some(bad) = row_values.iter().find(|v| !v.is_finite()) {
                return exec_err!("{}: a regressor is {bad}; remove or replace such values", p.label);
            }
            let r = p.predictor.predict(&row_keys, &row_values).map_err(|e| stats_error(&p.label, e))?;
            let (eta, se, q) = (r.linear_predictor, r.std_error, p.quantile);
            let row = match p.predictor.kind {
                ModelKind::Linear => {
                    let spread = p.predictor.residual_variance.map(|s2| q * (se * se + s2).sqrt());
                    [
                        Some(eta),
                        Some(eta),
                        Some(se),
                        Some(eta - q * se),
                        Some(eta + q * se),
                        spread.map(|s| eta - s),
                        spread.map(|s| eta + s),
                    ]
                }
                ModelKind::Logistic => {
                    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
                    [
                        Some(sigmoid(eta)),
                        Some(eta),
                        Some(se),
                        Some(sigmoid(eta - q * se)),
                        Some(sigmoid(eta + q * se)),
                        None,
                        None,
                    ]
                }
            };
            for (b, v) in out.iter_mut().zip(row) {
                b.append_option(v);
            }
        }
        let columns: Vec<ArrayRef> = out.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef).collect();
        Ok(ColumnarValue::Array(Arc::new(StructArray::new(fields(), columns, None))))
    }
}
