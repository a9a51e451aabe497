//! `srm(count_expression, arm [, [r₁, r₂, …]])`: the sample-ratio-mismatch check.
//!
//! ```sql
//! SELECT srm(1, treatment) FROM test_data;                       -- rows per arm, 50/50 design
//! SELECT srm(1, arm, [1, 1, 2]) FROM test_data;                  -- a 25/25/50 design
//! SELECT srm(numerator, treatment, [1, 1]) FROM test_data;       -- FCI's form: sums per arm
//! ```
//!
//! Sums `count_expression` per arm (so `1` counts rows), in sorted arm order, and tests the
//! totals against the designed ratios (equal by default) with Pearson's chi-square, as
//! `scipy.stats.chisquare`; see [`fastcausal_stats::srm`]. Result fields: `chi_square`, `df`,
//! `p_value`, `arms`, `observed`, `expected`.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::AggregateUDF;
use fastcausal_stats::srm::{SampleRatioTest, srm};
use fastcausal_stats::{CoMoments, Keyed};
use serde::{Deserialize, Serialize};

use super::arms::Arms;
use super::row::{Row, null_of};
use super::spec::read_spec;
use super::state_accumulator::StateFunction;
use super::udaf::{SpecFunction, SpecUdaf};
use crate::error::stats_error;
use crate::metric_sql::{Call, Rewritten, number_list_option};

const EXAMPLE: &str = "srm(1, treatment, [1, 1])";

/// The options of one `srm` call, produced by the SQL rewrite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SrmSpec {
    /// The summed expression as written.
    pub column: String,
    /// The arm column as written.
    pub arm: String,
    /// Designed ratios, one per arm in sorted order (equal when absent).
    #[serde(default)]
    pub ratios: Option<Vec<f64>>,
}

/// The SQL rewrite of an `srm` call.
pub(crate) fn rewrite(mut call: Call) -> Result<Rewritten> {
    let value = call.required(0, "the expression to count (1 counts rows)", EXAMPLE)?;
    let arm = call.required(1, "the arm column", EXAMPLE)?;
    let ratios = match call.option(&["ratios"], Some(2))? {
        Some(e) => Some(number_list_option("srm", "ratios", &e)?),
        None => None,
    };
    call.finish(&["ratios"])?;
    let spec = SrmSpec { column: value.to_string(), arm: arm.to_string(), ratios };
    Ok(Rewritten { spec: serde_json::to_string(&spec).expect("spec serialises"), args: vec![arm, value], name: None })
}

/// The `srm` SQL function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SrmKind;

/// The registered (unbound) function.
pub fn udaf() -> AggregateUDF {
    SpecUdaf::udaf(SrmKind)
}

impl SpecFunction for SrmKind {
    type Function = SrmFunction;
    fn name(&self) -> &'static str {
        "srm"
    }
    fn return_type(&self) -> DataType {
        srm_row(&SampleRatioTest::default(), &[], &[]).data_type()
    }
    fn build(&self, spec: &str) -> Result<SrmFunction> {
        let spec: SrmSpec = read_spec("srm", spec)?;
        Ok(SrmFunction {
            label: format!("srm({}, {})", spec.column, spec.arm),
            keys: vec![spec.arm],
            columns: vec![spec.column],
            ratios: spec.ratios,
        })
    }
    fn example(&self) -> &'static str {
        EXAMPLE
    }
}

/// The finish step of `srm`: totals per arm (n · mean of a one-column [`CoMoments`]).
#[derive(Debug)]
pub struct SrmFunction {
    label: String,
    keys: Vec<String>,
    columns: Vec<String>,
    ratios: Option<Vec<f64>>,
}

fn srm_row(t: &SampleRatioTest, arms: &[String], observed: &[f64]) -> Row {
    Row::new()
        .float("chi_square", t.chi_square)
        .int("df", t.df)
        .float("p_value", t.p_value)
        .texts("arms", arms)
        .floats("observed", Some(observed))
        .floats("expected", Some(&t.expected))
}

impl StateFunction for SrmFunction {
    type State = CoMoments;
    fn label(&self) -> &str {
        &self.label
    }
    fn key_names(&self) -> &[String] {
        &self.keys
    }
    fn column_names(&self) -> &[String] {
        &self.columns
    }
    fn new_state(&self) -> CoMoments {
        CoMoments::new(1)
    }
    fn data_type(&self) -> DataType {
        SrmKind.return_type()
    }
    fn finish(&self, cells: &mut Keyed<CoMoments>) -> Result<ScalarValue> {
        if cells.rows() == 0 {
            return null_of(&self.data_type());
        }
        let arms = Arms::new(cells, false);
        let observed: Vec<f64> = (0..arms.len())
            .map(|i| {
                let s = arms.state(i);
                s.count() as f64 * s.means()[0]
            })
            .collect();
        let test = srm(&observed, self.ratios.as_deref()).map_err(|e| stats_error(&self.label, e))?;
        srm_row(&test, &arms.labels(), &observed).into_scalar()
    }
}
