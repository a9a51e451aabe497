//! Result shaping shared by the front ends.
//!
//! Statistics return structs (`{estimate, stderr, p_value, …}`); a person wants to see them as
//! columns. [`flatten_structs`] replaces each struct column by its fields, named by the field
//! alone when that is unambiguous and `column.field` otherwise.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::Result;

/// A float with 10 significant digits and trailing zeros trimmed (`0.01583165933`, `15.03691812`,
/// `2`), in exponent form outside 1e-5…1e15: how results are shown to people and compared in
/// the SQL regression suite (the last digits of a sum depend on summation order).
pub fn format_float(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 {
        return "0".into();
    }
    // Round to 10 significant digits first, so that 9.9999999999 becomes 10 before the
    // magnitude is taken.
    let s = format!("{x:.9e}");
    let v: f64 = s.parse().expect("a formatted float parses");
    let magnitude = v.abs().log10().floor() as i32;
    if !(-5..15).contains(&magnitude) {
        return format!("{v:.6e}");
    }
    let decimals = (9 - magnitude).max(0) as usize;
    let t = format!("{v:.decimals$}");
    if t.contains('.') { t.trim_end_matches('0').trim_end_matches('.').to_string() } else { t }
}

/// The schema of [`flatten_structs`]'s output for `schema`.
pub fn flattened_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(flat_fields(schema)))
}

fn flat_fields(schema: &Schema) -> Vec<Field> {
    let plain: HashSet<&str> = schema
        .fields()
        .iter()
        .filter(|f| !matches!(f.data_type(), DataType::Struct(_)))
        .map(|f| f.name().as_str())
        .collect();
    let structs: Vec<&Field> =
        schema.fields().iter().filter(|f| matches!(f.data_type(), DataType::Struct(_))).map(|f| f.as_ref()).collect();
    let mut out = Vec::new();
    for f in schema.fields() {
        match f.data_type() {
            DataType::Struct(children) => {
                let prefix = structs.len() > 1 || children.iter().any(|c| plain.contains(c.name().as_str()));
                for c in children {
                    let name = if prefix { format!("{}.{}", f.name(), c.name()) } else { c.name().clone() };
                    out.push(Field::new(name, c.data_type().clone(), true));
                }
            }
            _ => out.push(f.as_ref().clone()),
        }
    }
    out
}

/// Replaces struct columns by their fields (one level; a NULL struct gives NULL fields).
pub fn flatten_structs(batch: &RecordBatch) -> Result<RecordBatch> {
    if !batch.schema().fields().iter().any(|f| matches!(f.data_type(), DataType::Struct(_))) {
        return Ok(batch.clone());
    }
    let schema = flattened_schema(&batch.schema());
    let mut columns: Vec<ArrayRef> = Vec::new();
    for c in batch.columns() {
        match c.data_type() {
            DataType::Struct(_) => {
                let s = c.as_struct();
                for child in s.columns() {
                    columns.push(match s.nulls() {
                        Some(n) if n.null_count() > 0 => {
                            let data = child.to_data();
                            let merged = datafusion::arrow::buffer::NullBuffer::union(Some(n), data.nulls());
                            datafusion::arrow::array::make_array(data.into_builder().nulls(merged).build()?)
                        }
                        _ => Arc::clone(child),
                    });
                }
            }
            _ => columns.push(Arc::clone(c)),
        }
    }
    Ok(RecordBatch::try_new(schema, columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_have_ten_significant_digits() {
        assert_eq!(format_float(0.015831659325963), "0.01583165933");
        assert_eq!(format_float(15.036918123), "15.03691812");
        assert_eq!(format_float(9.99999999999), "10");
        assert_eq!(format_float(2.0), "2");
        assert_eq!(format_float(-1234.5), "-1234.5");
        assert_eq!(format_float(1.5e-9), "1.500000e-9");
        assert_eq!(format_float(f64::NAN), "NaN");
    }
    use datafusion::arrow::array::{Float64Array, Int64Array, StructArray};

    #[test]
    fn struct_fields_become_columns() {
        let s = StructArray::from(vec![
            (
                Arc::new(Field::new("estimate", DataType::Float64, true)),
                Arc::new(Float64Array::from(vec![1.5])) as ArrayRef,
            ),
            (Arc::new(Field::new("g", DataType::Float64, true)), Arc::new(Float64Array::from(vec![2.5])) as ArrayRef),
        ]);
        let batch = RecordBatch::try_from_iter(vec![
            ("g", Arc::new(Int64Array::from(vec![7])) as ArrayRef),
            ("t", Arc::new(s) as ArrayRef),
        ])
        .unwrap();
        let flat = flatten_structs(&batch).unwrap();
        let names: Vec<String> = flat.schema().fields().iter().map(|f| f.name().clone()).collect();
        // "g" collides with a plain column, so the struct's fields are prefixed.
        assert_eq!(names, vec!["g", "t.estimate", "t.g"]);
        assert_eq!(flat.num_columns(), 3);
    }
}
