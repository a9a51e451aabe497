//! The synthetic data set of the design document: an A/B test with ratio metrics, pre-period
//! covariates and heterogeneous effects, and an observational study with confounded treatment.
//!
//! Per row (N(0,s) has standard deviation s):
//!
//! ```text
//! x1~N(0,1)  x2~N(0,2)  x3~Exp(1)  x4~Exp(scale 2)  x5~U(0,5)  weight~U(0,1)
//! x_long_tail1~Lomax(3)  x_long_tail2~Lomax(2)  (numpy's "pareto")
//! x_cat1 uniform over A..E      treatment uniform over {0,1}
//! y_pre = x1 + 2·x2 + 3·x3 + 3·ln(x_long_tail2+1) + N(0,1)
//! y     = y_pre + 5·t + 2·t·(x1 + x2² + ln(x4+1) + [x_long_tail1>1]) + N(0,2),
//!         then +3 where x_cat1='A', −2 where x_cat1='B'
//! numerator_pre = y_pre     numerator = y
//! denominator_pre = x1 + 2·x5 + 3·ln(x_long_tail1+1) + N(0,1)
//! denominator     = denominator_pre + 2·t + 2·t·x1 + N(0,2)
//! t_ob ~ Bernoulli(sigmoid(x1 + 0.2·x2 + 0.5·x3 + 0.1·N(0,1)))
//! y_ob = 0.5·x1 − 0.25·x2 + 0.1·x3 + 0.5·t_ob + 0.1·N(0,1) + N(0,1)
//! ```
//!
//! Columns are in the order of FCI's `test_data_small`. Rows are generated in fixed chunks of
//! [`CHUNK_ROWS`], chunk `c` from its own stream of a xoshiro256++ generator (the seeded
//! generator advanced by `c` jumps of 2¹²⁸), so the data depend on the seed and the row count
//! only — not on the number of threads — and chunks are generated in parallel. (The values
//! are not numpy's; the numpy-generated 10,000 rows live in `tests/reference/`.)

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::sync_channel;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use rand::{Rng, SeedableRng};
use rand_distr::{Exp1, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::error::{EngineError, EngineResult};
use crate::import::writer_properties;
use crate::progress::{Cancel, Progress, Unit};
use crate::warehouse::{TableEntry, Warehouse};

/// Rows per independently seeded chunk.
pub const CHUNK_ROWS: usize = 1 << 16;

/// Column names, in order.
pub const COLUMNS: [&str; 17] = [
    "x1",
    "x2",
    "x3",
    "x4",
    "x5",
    "x_long_tail1",
    "x_long_tail2",
    "x_cat1",
    "treatment",
    "t_ob",
    "y",
    "y_ob",
    "numerator_pre",
    "numerator",
    "denominator_pre",
    "denominator",
    "weight",
];

/// The schema: `x_cat1` is text, `treatment` and `t_ob` integers, the rest doubles.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|&name| {
                let t = match name {
                    "x_cat1" => DataType::Utf8,
                    "treatment" | "t_ob" => DataType::Int64,
                    _ => DataType::Float64,
                };
                Field::new(name, t, false)
            })
            .collect::<Vec<_>>(),
    ))
}

const CATEGORIES: [&str; 5] = ["A", "B", "C", "D", "E"];

/// The rows `[chunk·CHUNK_ROWS, chunk·CHUNK_ROWS + rows)` of the data set with `seed`.
pub fn generate_chunk(seed: u64, chunk: u64, rows: usize) -> RecordBatch {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    for _ in 0..chunk {
        rng.jump();
    }
    // The 14 float columns, in schema order.
    let mut floats: Vec<Vec<f64>> = (0..14).map(|_| Vec::with_capacity(rows)).collect();
    let mut cat = Vec::with_capacity(rows);
    let mut treatment = Vec::with_capacity(rows);
    let mut t_ob = Vec::with_capacity(rows);
    let normal = |rng: &mut Xoshiro256PlusPlus, sd: f64| -> f64 { sd * rng.sample::<f64, _>(StandardNormal) };
    for _ in 0..rows {
        let x1 = normal(&mut rng, 1.0);
        let x2 = normal(&mut rng, 2.0);
        let x3: f64 = rng.sample(Exp1);
        let x4: f64 = 2.0 * rng.sample::<f64, _>(Exp1);
        let x5 = 5.0 * rng.random::<f64>();
        let weight = rng.random::<f64>();
        let lt1 = (rng.sample::<f64, _>(Exp1) / 3.0).exp_m1();
        let lt2 = (rng.sample::<f64, _>(Exp1) / 2.0).exp_m1();
        let c = rng.random_range(0..5usize);
        let t = rng.random_range(0..2i64);
        let tf = t as f64;
        let y_pre = x1 + 2.0 * x2 + 3.0 * x3 + 3.0 * lt2.ln_1p() + normal(&mut rng, 1.0);
        let mut y = y_pre
            + 5.0 * tf
            + 2.0 * tf * (x1 + x2 * x2 + x4.ln_1p() + if lt1 > 1.0 { 1.0 } else { 0.0 })
            + normal(&mut rng, 2.0);
        match c {
            0 => y += 3.0,
            1 => y -= 2.0,
            _ => {}
        }
        let denominator_pre = x1 + 2.0 * x5 + 3.0 * lt1.ln_1p() + normal(&mut rng, 1.0);
        let denominator = denominator_pre + 2.0 * tf + 2.0 * tf * x1 + normal(&mut rng, 2.0);
        let lin_t = x1 + 0.2 * x2 + 0.5 * x3 + 0.1 * normal(&mut rng, 1.0);
        let p = 1.0 / (1.0 + (-lin_t).exp());
        let tob = i64::from(rng.random::<f64>() < p);
        let y_ob =
            0.5 * x1 - 0.25 * x2 + 0.1 * x3 + 0.5 * tob as f64 + 0.1 * normal(&mut rng, 1.0) + normal(&mut rng, 1.0);
        let row = [x1, x2, x3, x4, x5, lt1, lt2, y, y_ob, y_pre, y, denominator_pre, denominator, weight];
        for (column, v) in floats.iter_mut().zip(row) {
            column.push(v);
        }
        cat.push(CATEGORIES[c]);
        treatment.push(t);
        t_ob.push(tob);
    }
    let mut floats = floats.into_iter();
    let arrays: Vec<ArrayRef> = COLUMNS
        .iter()
        .map(|&name| -> ArrayRef {
            match name {
                "x_cat1" => Arc::new(StringArray::from(std::mem::take(&mut cat))),
                "treatment" => Arc::new(Int64Array::from(std::mem::take(&mut treatment))),
                "t_ob" => Arc::new(Int64Array::from(std::mem::take(&mut t_ob))),
                _ => Arc::new(Float64Array::from(floats.next().expect("14 float columns"))),
            }
        })
        .collect();
    RecordBatch::try_new(schema(), arrays).expect("columns match the schema")
}

/// Generates `rows` rows in parallel and hands the chunks, in order, to `sink`.
pub fn generate(
    rows: u64,
    seed: u64,
    progress: &dyn Progress,
    cancel: &Cancel,
    mut sink: impl FnMut(RecordBatch) -> EngineResult<()>,
) -> EngineResult<()> {
    let chunks = rows.div_ceil(CHUNK_ROWS as u64);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(chunks.max(1) as usize);
    progress.begin("generating", Some(rows), Unit::Rows);
    let result = std::thread::scope(|scope| {
        let mut receivers = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel::<RecordBatch>(2);
            receivers.push(rx);
            scope.spawn(move || {
                let mut c = w as u64;
                while c < chunks {
                    let n = (rows - c * CHUNK_ROWS as u64).min(CHUNK_ROWS as u64) as usize;
                    if cancel.is_cancelled() || tx.send(generate_chunk(seed, c, n)).is_err() {
                        return;
                    }
                    c += workers as u64;
                }
            });
        }
        for c in 0..chunks {
            if cancel.is_cancelled() {
                return Err(EngineError::Interrupted);
            }
            let batch = receivers[(c % workers as u64) as usize].recv().map_err(|_| EngineError::Interrupted)?;
            progress.advance(batch.num_rows() as u64);
            sink(batch)?;
        }
        Ok(())
    });
    progress.finish();
    result
}

/// The warehouse's writer settings, without dictionary encoding for the continuous columns:
/// their values never repeat, so building a dictionary only to abandon it costs time.
fn generated_writer_properties() -> WriterProperties {
    let mut builder = writer_properties().into_builder();
    for f in schema().fields() {
        if f.data_type() == &DataType::Float64 {
            builder = builder.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), false);
        }
    }
    builder.build()
}

fn write_parquet(
    file: File,
    rows: u64,
    seed: u64,
    progress: &dyn Progress,
    cancel: &Cancel,
    path: &Path,
) -> EngineResult<()> {
    let mut writer = ArrowWriter::try_new(file, schema(), Some(generated_writer_properties()))
        .map_err(|e| EngineError::input(path, e.to_string()))?;
    generate(rows, seed, progress, cancel, |batch| {
        writer.write(&batch).map_err(|e| EngineError::input(path, e.to_string()))
    })?;
    writer.close().map_err(|e| EngineError::input(path, e.to_string()))?;
    Ok(())
}

/// Writes the data set to a Parquet file; the file appears whole or not at all.
pub fn generate_to_file(
    path: &Path,
    rows: u64,
    seed: u64,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> EngineResult<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
    let tmp =
        tempfile::Builder::new().prefix(".fastcausal-gen-").tempfile_in(dir).map_err(|e| EngineError::io(dir, e))?;
    let file = tmp.as_file().try_clone().map_err(|e| EngineError::io(tmp.path(), e))?;
    write_parquet(file, rows, seed, progress, cancel, path)?;
    tmp.persist(path).map_err(|e| EngineError::io(path, e.error))?;
    Ok(())
}

/// Writes the data set as warehouse table `name`.
pub fn generate_to_table(
    warehouse: &Warehouse,
    name: &str,
    replace: bool,
    rows: u64,
    seed: u64,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> EngineResult<TableEntry> {
    let mut pending = warehouse.begin(name, replace)?;
    let file = pending.file().try_clone().map_err(|e| EngineError::io(pending.path(), e))?;
    let path = pending.path().to_path_buf();
    write_parquet(file, rows, seed, progress, cancel, &path)?;
    warehouse.commit(pending, rows, Some(format!("fastcausal gen-data --rows {rows} --seed {seed}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Float64Type;

    #[test]
    fn deterministic_and_chunk_independent() {
        let a = generate_chunk(7, 3, 100);
        let b = generate_chunk(7, 3, 100);
        assert_eq!(a, b);
        assert_ne!(generate_chunk(7, 2, 100), a);
        // A shorter chunk is a prefix of a longer one.
        assert_eq!(generate_chunk(7, 3, 40), a.slice(0, 40));
        assert_eq!(a.num_columns(), 17);
    }

    #[test]
    fn formulas_hold_row_by_row() {
        let b = generate_chunk(1, 0, 2000);
        let col = |n: &str| b.column_by_name(n).unwrap().as_primitive::<Float64Type>().values().to_vec();
        assert_eq!(col("y"), col("numerator"));
        assert!(col("numerator_pre").iter().all(|v| v.is_finite()));
        let x5 = col("x5");
        assert!(x5.iter().all(|&v| (0.0..5.0).contains(&v)));
        let lt = col("x_long_tail1");
        assert!(lt.iter().all(|&v| v >= 0.0));
        // Means within sampling error of the design: E[x3] = 1, E[x4] = 2, E[weight] = 1/2.
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!((mean(&col("x3")) - 1.0).abs() < 0.1);
        assert!((mean(&col("x4")) - 2.0).abs() < 0.2);
        assert!((mean(&col("weight")) - 0.5).abs() < 0.05);
    }

    #[test]
    fn parallel_generation_is_in_order() {
        let mut got = Vec::new();
        generate(3 * CHUNK_ROWS as u64 + 5, 9, &crate::progress::NoProgress, &Cancel::new(), |b| {
            got.push(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[2], generate_chunk(9, 2, CHUNK_ROWS));
        assert_eq!(got[3].num_rows(), 5);
    }
}
