//! Rank tests of two arms: `mann_whitney_utest` and `ks_2samp`.
//!
//! ```sql
//! SELECT mann_whitney_utest(numerator, treatment) FROM test_data;
//! SELECT x_cat1, ks_2samp(y, treatment, 'greater') FROM test_data GROUP BY x_cat1;
//! ```
//!
//! Each keeps the values of the column per arm as a [`SortedValues`] state — nothing more, so
//! memory is the column's values — sorted per partition before partial states are exchanged and
//! merged as sorted runs. Finishing walks the two sorted arms once. p-values follow scipy's
//! `method='auto'` exactly (exact distributions for small samples, the tie-corrected normal
//! approximation or the Kolmogorov distribution otherwise); see
//! [`fastcausal_stats::rank_tests`]. `treatment` is scipy's first sample: for Mann–Whitney
//! `'greater'` means treatment tends to be larger; for KS, as in scipy, it means the treatment's
//! CDF lies above the control's (treatment tends to be smaller).
//!
//! Fields: `mann_whitney_utest` → `control_arm, treatment_arm, n0, n1, u0, u1, z, p_value,
//! method`; `ks_2samp` → `control_arm, treatment_arm, n0, n1, d, location, sign, p_value,
//! method`.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::AggregateUDF;
use fastcausal_stats::{
    Alternative, KeyValue, Keyed, KolmogorovSmirnov, MannWhitney, SortedValues, ks_2samp, mann_whitney_u,
};
use serde::{Deserialize, Serialize};

use super::arms::{Arms, control_arm};
use super::row::{Row, null_of};
use super::spec::read_spec;
use super::state_accumulator::StateFunction;
use super::udaf::{SpecFunction, SpecUdaf};
use crate::error::stats_error;
use crate::metric_sql::{Call, Rewritten, bool_option, key_option, plan_error, string_option};

/// The two rank tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RankTestKind {
    MannWhitney,
    KolmogorovSmirnov,
}

/// The registered (unbound) functions.
pub fn udafs() -> Vec<AggregateUDF> {
    vec![SpecUdaf::udaf(RankTestKind::MannWhitney), SpecUdaf::udaf(RankTestKind::KolmogorovSmirnov)]
}

/// The options of one call, produced by the SQL rewrite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankTestSpec {
    pub column: String,
    pub arm: String,
    #[serde(default)]
    pub alternative: Option<String>,
    #[serde(default = "default_true")]
    pub continuity: bool,
    #[serde(default)]
    pub control: Option<serde_json::Value>,
}

fn default_true() -> bool {
    true
}

impl RankTestKind {
    fn options(self) -> &'static [&'static str] {
        match self {
            RankTestKind::MannWhitney => &["alternative", "continuity", "control"],
            RankTestKind::KolmogorovSmirnov => &["alternative", "control"],
        }
    }
}

/// The SQL rewrite of a rank-test call.
pub(crate) fn rewrite(mut call: Call) -> Result<Rewritten> {
    let kind = if call.name == "ks_2samp" { RankTestKind::KolmogorovSmirnov } else { RankTestKind::MannWhitney };
    let name = call.name.clone();
    let example = kind.example();
    let value = call.required(0, "the value column", example)?;
    let arm = call.required(1, "the arm column", example)?;
    let mut spec = RankTestSpec {
        column: value.to_string(),
        arm: arm.to_string(),
        alternative: None,
        continuity: true,
        control: None,
    };
    if let Some(e) = call.option(&["alternative"], Some(2))? {
        spec.alternative = Some(string_option(&name, "alternative", &e)?);
    }
    if kind == RankTestKind::MannWhitney
        && let Some(e) = call.option(&["continuity", "use_continuity"], None)?
    {
        spec.continuity = bool_option(&name, "continuity", &e)?;
    }
    if let Some(e) = call.option(&["control"], None)? {
        spec.control = Some(key_option(&name, "control", &e)?);
    }
    call.finish(kind.options())?;
    RankTestFunction::new(kind, spec.clone())?;
    Ok(Rewritten { spec: serde_json::to_string(&spec).expect("spec serialises"), args: vec![arm, value], name: None })
}

impl SpecFunction for RankTestKind {
    type Function = RankTestFunction;
    fn name(&self) -> &'static str {
        match self {
            RankTestKind::MannWhitney => "mann_whitney_utest",
            RankTestKind::KolmogorovSmirnov => "ks_2samp",
        }
    }
    fn return_type(&self) -> DataType {
        match self {
            RankTestKind::MannWhitney => mann_whitney_row(&MannWhitney::default(), "", "").data_type(),
            RankTestKind::KolmogorovSmirnov => ks_row(&KolmogorovSmirnov::default(), "", "").data_type(),
        }
    }
    fn build(&self, spec: &str) -> Result<RankTestFunction> {
        RankTestFunction::new(*self, read_spec(self.name(), spec)?)
    }
    fn example(&self) -> &'static str {
        match self {
            RankTestKind::MannWhitney => "mann_whitney_utest(numerator, treatment)",
            RankTestKind::KolmogorovSmirnov => "ks_2samp(y, treatment)",
        }
    }
}

/// The finish step of one call.
#[derive(Debug)]
pub struct RankTestFunction {
    kind: RankTestKind,
    label: String,
    keys: Vec<String>,
    columns: Vec<String>,
    alternative: Alternative,
    continuity: bool,
    control: Option<KeyValue>,
}

impl RankTestFunction {
    fn new(kind: RankTestKind, spec: RankTestSpec) -> Result<Self> {
        let name = kind.name();
        let alternative = match &spec.alternative {
            Some(a) => Alternative::parse(a).map_err(|e| stats_error(name, e))?,
            None => Alternative::TwoSided,
        };
        let control = control_arm(name, spec.control.as_ref())?;
        if spec.column.is_empty() {
            return Err(plan_error(format!("{name}: a value column is needed")));
        }
        Ok(RankTestFunction {
            kind,
            label: format!("{name}({}, {})", spec.column, spec.arm),
            keys: vec![spec.arm],
            columns: vec![spec.column],
            alternative,
            continuity: spec.continuity,
            control,
        })
    }
}

fn method(exact: bool) -> &'static str {
    if exact { "exact" } else { "asymptotic" }
}

fn mann_whitney_row(t: &MannWhitney, control: &str, treatment: &str) -> Row {
    Row::new()
        .text("control_arm", control)
        .text("treatment_arm", treatment)
        .int("n0", t.n0)
        .int("n1", t.n1)
        .float("u0", t.u0)
        .float("u1", t.u1)
        .opt_float("z", t.z.filter(|z| z.is_finite()))
        .float("p_value", t.p_value)
        .text("method", method(t.exact))
}

fn ks_row(t: &KolmogorovSmirnov, control: &str, treatment: &str) -> Row {
    Row::new()
        .text("control_arm", control)
        .text("treatment_arm", treatment)
        .int("n0", t.n0)
        .int("n1", t.n1)
        .float("d", t.d)
        .float("location", t.location)
        .signed("sign", t.sign as i64)
        .float("p_value", t.p_value)
        .text("method", method(t.exact))
}

impl StateFunction for RankTestFunction {
    type State = SortedValues;
    fn label(&self) -> &str {
        &self.label
    }
    fn key_names(&self) -> &[String] {
        &self.keys
    }
    fn column_names(&self) -> &[String] {
        &self.columns
    }
    fn new_state(&self) -> SortedValues {
        SortedValues::new()
    }
    fn data_type(&self) -> DataType {
        self.kind.return_type()
    }
    fn finish(&self, cells: &mut Keyed<SortedValues>) -> Result<ScalarValue> {
        if cells.rows() == 0 {
            return null_of(&self.data_type());
        }
        for (_, s) in cells.states_mut() {
            s.sort();
        }
        let arms = Arms::new(cells, false);
        let (c, t) = arms.two_arms(self.control.as_ref(), &self.keys[0], &self.label)?;
        let (x0, x1) = (arms.state(c).values(), arms.state(t).values());
        let (l0, l1) = (arms.label(c), arms.label(t));
        let err = |e| stats_error(&self.label, e);
        match self.kind {
            RankTestKind::MannWhitney => {
                mann_whitney_row(&mann_whitney_u(x0, x1, self.alternative, self.continuity).map_err(err)?, &l0, &l1)
                    .into_scalar()
            }
            RankTestKind::KolmogorovSmirnov => {
                ks_row(&ks_2samp(x0, x1, self.alternative).map_err(err)?, &l0, &l1).into_scalar()
            }
        }
    }
}
