//! Building the struct values statistics return.
//!
//! A statistic's result is one SQL struct with documented snake_case fields. Each function
//! builds it with a [`Row`] from its `fastcausal-stats` result; the function's declared SQL type
//! is the type of the row built from a default result, so the declared and the produced types
//! cannot drift apart.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::scalar::ScalarStructBuilder;
use datafusion::common::{Result, ScalarValue};

/// The fields and values of one struct value, in order.
#[derive(Debug, Default)]
pub struct Row {
    fields: Vec<Field>,
    values: Vec<ScalarValue>,
}

/// The type of a list of `Float64` or `Utf8` items.
fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, true)))
}

impl Row {
    pub fn new() -> Row {
        Row::default()
    }

    /// A field of any type (`value` must be of `data_type`), e.g. a list of rows.
    pub fn value(mut self, name: &str, data_type: DataType, value: ScalarValue) -> Row {
        self.fields.push(Field::new(name, data_type, true));
        self.values.push(value);
        self
    }

    /// A float; NaN is stored as NULL (a result is never a silent NaN).
    pub fn float(self, name: &str, v: f64) -> Row {
        self.opt_float(name, (!v.is_nan()).then_some(v))
    }

    pub fn opt_float(self, name: &str, v: Option<f64>) -> Row {
        self.value(name, DataType::Float64, ScalarValue::Float64(v.filter(|x| !x.is_nan())))
    }

    pub fn boolean(self, name: &str, v: bool) -> Row {
        self.value(name, DataType::Boolean, ScalarValue::Boolean(Some(v)))
    }

    pub fn int(self, name: &str, v: u64) -> Row {
        self.value(name, DataType::Int64, ScalarValue::Int64(Some(v as i64)))
    }

    pub fn signed(self, name: &str, v: i64) -> Row {
        self.value(name, DataType::Int64, ScalarValue::Int64(Some(v)))
    }

    pub fn text(self, name: &str, v: &str) -> Row {
        self.value(name, DataType::Utf8, ScalarValue::Utf8(Some(v.to_owned())))
    }

    pub fn opt_text(self, name: &str, v: Option<&str>) -> Row {
        self.value(name, DataType::Utf8, ScalarValue::Utf8(v.map(str::to_owned)))
    }

    pub fn floats(self, name: &str, v: Option<&[f64]>) -> Row {
        let value = match v {
            Some(xs) => {
                let items: Vec<ScalarValue> = xs.iter().map(|x| ScalarValue::Float64(Some(*x))).collect();
                ScalarValue::List(ScalarValue::new_list_nullable(&items, &DataType::Float64))
            }
            None => ScalarValue::new_null_list(DataType::Float64, true, 1),
        };
        self.value(name, list_of(DataType::Float64), value)
    }

    pub fn texts(self, name: &str, v: &[String]) -> Row {
        let items: Vec<ScalarValue> = v.iter().map(|x| ScalarValue::Utf8(Some(x.clone()))).collect();
        self.value(
            name,
            list_of(DataType::Utf8),
            ScalarValue::List(ScalarValue::new_list_nullable(&items, &DataType::Utf8)),
        )
    }

    /// The struct type.
    pub fn data_type(&self) -> DataType {
        DataType::Struct(Fields::from(self.fields.clone()))
    }

    /// The struct value.
    pub fn into_scalar(self) -> Result<ScalarValue> {
        let mut b = ScalarStructBuilder::new();
        for (f, v) in self.fields.into_iter().zip(self.values) {
            b = b.with_scalar(f, v);
        }
        b.build()
    }
}

/// A list of rows of one shape, as one SQL value (`shape` gives the type when it is empty).
pub fn rows_value(rows: Vec<Row>, shape: &DataType) -> Result<ScalarValue> {
    let items = rows.into_iter().map(Row::into_scalar).collect::<Result<Vec<_>>>()?;
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(&items, shape)))
}

/// The type of a list of `shape` rows.
pub fn rows_type(shape: &DataType) -> DataType {
    list_of(shape.clone())
}

/// A NULL of `data_type` (the result of a group without rows).
pub fn null_of(data_type: &DataType) -> Result<ScalarValue> {
    ScalarValue::try_from(data_type)
}
