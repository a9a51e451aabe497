//! `hash_unit(seed, column, …)`: a number in [0, 1) that is a hash of a row's values and a seed.
//!
//! Random splits and samples must be reproducible on any number of partitions, files or
//! machines, so the "random" number of a row cannot come from a generator that runs along the
//! rows. It is a hash of the row instead:
//!
//! ```sql
//! SELECT * FROM t WHERE hash_unit(7, user_id) < 0.2;          -- a 20% sample of users, seed 7
//! SELECT *, hash_unit(0, *) < 0.25 AS is_test FROM t;         -- not SQL: list the columns
//! ```
//!
//! Each value is reduced to 64 bits — an integer (or date, time, boolean) as its value, a float
//! by its bits (`-0.0` as `0.0`, every NaN alike), text by its bytes, a NULL by a constant, any
//! other type by its text form — and folded into the seed with the splitmix64 finaliser, in
//! column order. The top 53 bits of the result, divided by 2⁵³, are the unit. Rows with equal
//! values in the listed columns get the same number (so `hash_unit(s, user_id)` keeps a user's
//! rows together).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use fastcausal_stats::hash::{mix, mix_bytes};

/// The `hash_unit` function.
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(HashUnit { signature: Signature::variadic_any(Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct HashUnit {
    signature: Signature,
}

/// What a NULL contributes.
const NULL_BITS: u64 = 0x6e75_6c6c_6e75_6c6c;

/// The rows' hashes before any value: the seed, mixed.
fn seeded(seed: i64, rows: usize) -> Vec<u64> {
    vec![mix(seed as u64 ^ 0x9e37_79b9_7f4a_7c15); rows]
}

/// A hash as a unit: its top 53 bits over 2⁵³.
fn unit(hash: u64) -> f64 {
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// Mixes each row's value bits (`bits(i)`, or [`NULL_BITS`] where `nulls` says so) into its
/// hash; generic, so the per-type closure is inlined into the loop.
fn fold(hashes: &mut [u64], nulls: Option<&NullBuffer>, bits: impl Fn(usize) -> u64) {
    for (i, h) in hashes.iter_mut().enumerate() {
        let v = if nulls.is_some_and(|n| n.is_null(i)) { NULL_BITS } else { bits(i) };
        *h = mix(*h ^ v);
    }
}

/// Folds one column's values into the rows' hashes.
fn fold_column(hashes: &mut [u64], column: &ArrayRef) -> Result<()> {
    let nulls = column.logical_nulls();
    let nulls = nulls.as_ref();
    match column.data_type() {
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let floats = cast(column, &DataType::Float64)?;
            let floats = floats.as_primitive::<Float64Type>();
            fold(hashes, nulls, |i| {
                let x = floats.value(i);
                if x == 0.0 {
                    0
                } else if x.is_nan() {
                    f64::NAN.to_bits()
                } else {
                    x.to_bits()
                }
            });
        }
        DataType::Boolean => {
            let b = column.as_boolean();
            fold(hashes, nulls, |i| u64::from(b.value(i)));
        }
        t if t.is_integer() || t.is_temporal() => {
            let ints = cast(column, &DataType::Int64)?;
            let ints = ints.as_primitive::<Int64Type>();
            fold(hashes, nulls, |i| ints.value(i) as u64);
        }
        DataType::Utf8View => {
            let s = column.as_string_view();
            fold(hashes, nulls, |i| mix_bytes(s.value(i).as_bytes()));
        }
        DataType::Utf8 => {
            let s = column.as_string::<i32>();
            fold(hashes, nulls, |i| mix_bytes(s.value(i).as_bytes()));
        }
        DataType::LargeUtf8 => {
            let s = column.as_string::<i64>();
            fold(hashes, nulls, |i| mix_bytes(s.value(i).as_bytes()));
        }
        other => match cast(column, &DataType::Utf8) {
            Ok(text) => fold_column(hashes, &text)?,
            Err(_) => return exec_err!("hash_unit: cannot hash a column of type {other}"),
        },
    }
    Ok(())
}

impl ScalarUDFImpl for HashUnit {
    fn name(&self) -> &str {
        "hash_unit"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if args.len() < 2 {
            return plan_err!("hash_unit(seed, column, …) needs a seed and at least one column");
        }
        if !args[0].is_integer() {
            return plan_err!("hash_unit: the seed (first argument) must be an integer, not {}", args[0]);
        }
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let seed = match &args.args[0] {
            ColumnarValue::Scalar(s) => match s.cast_to(&DataType::Int64)? {
                ScalarValue::Int64(Some(seed)) => seed,
                _ => return exec_err!("hash_unit: the seed cannot be NULL"),
            },
            ColumnarValue::Array(_) => return exec_err!("hash_unit: the seed must be a constant"),
        };
        let n = args.number_rows;
        let mut hashes = seeded(seed, n);
        for value in &args.args[1..] {
            fold_column(&mut hashes, &value.to_array(n)?)?;
        }
        let units: Float64Array = hashes.iter().map(|&h| Some(unit(h))).collect();
        Ok(ColumnarValue::Array(Arc::new(units)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};

    fn units(seed: i64, columns: Vec<ArrayRef>) -> Vec<f64> {
        let mut hashes = seeded(seed, columns[0].len());
        for c in &columns {
            fold_column(&mut hashes, c).unwrap();
        }
        hashes.iter().map(|&h| unit(h)).collect()
    }

    #[test]
    fn equal_values_equal_units_whatever_the_layout() {
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(2), None, Some(1)]));
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), Some("b"), Some("c"), Some("a")]));
        let u = units(3, vec![ints.clone(), text.clone()]);
        assert_eq!(u[0], u[3]);
        assert!(u.iter().all(|x| (0.0..1.0).contains(x)));
        // Utf8View and Utf8 hash alike, and a slice (another batch boundary) gives the same numbers.
        let view = cast(&text, &DataType::Utf8View).unwrap();
        assert_eq!(units(3, vec![ints.clone(), view]), u);
        assert_eq!(units(3, vec![ints.slice(1, 3), text.slice(1, 3)]), u[1..]);
        // Another seed, other numbers; -0.0 and 0.0 alike.
        assert_ne!(units(4, vec![ints, text]), u);
        let zeros: ArrayRef = Arc::new(Float64Array::from(vec![0.0, -0.0]));
        let z = units(0, vec![zeros]);
        assert_eq!(z[0], z[1]);
    }

    #[test]
    fn units_are_uniform() {
        // 100,000 consecutive integers: each tenth of [0, 1) holds 10% ± 0.3% (≈ 3.3 σ).
        let ids: ArrayRef = Arc::new(Int64Array::from((0..100_000).collect::<Vec<i64>>()));
        let u = units(0, vec![ids]);
        let mut bins = [0usize; 10];
        u.iter().for_each(|x| bins[(x * 10.0) as usize] += 1);
        assert!(bins.iter().all(|&b| (9_700..=10_300).contains(&b)), "{bins:?}");
    }
}
