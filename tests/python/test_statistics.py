"""Every statistic method against the committed reference values (tests/reference/*.json, made by
the scripts beside them with scipy, statsmodels and linearmodels), to 1e-9 relative."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pytest

import fastcausal as fc

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
TOL = 1e-9


def load(name: str) -> dict:
    return json.loads((REFERENCE / f"{name}.json").read_text())


def close(got, want, path=""):
    """Equal to 1e-9 relative (absolute near 0), recursively through rows and lists."""
    if isinstance(want, dict):
        for k, v in want.items():
            close(got[k] if isinstance(got, dict) else getattr(got, k), v, f"{path}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), f"{path}: {len(got)} vs {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            close(g, w, f"{path}[{i}]")
    elif want in ("Infinity", "-Infinity"):  # JSON has no infinities; the references spell them
        assert got == float(want.replace("Infinity", "inf")), f"{path}: {got} vs {want}"
    elif isinstance(want, float) and isinstance(got, (int, float)):
        if math.isinf(want):
            assert got == want, f"{path}: {got} vs {want}"
        else:
            assert abs(got - want) <= TOL * max(abs(want), 1e-300) or abs(got - want) < 1e-12, f"{path}: {got} vs {want}"
    else:
        assert got == want, f"{path}: {got!r} vs {want!r}"


@pytest.fixture(scope="module")
def small() -> fc.DataFrame:
    """FCI's test_data_small (10,000 rows), read from the committed CSV."""
    return fc.read_csv(REFERENCE / "test_data_small.csv")


CASES = {case["name"]: case for case in load("reference")["tests"]}


def check(case_name: str, result) -> None:
    """Compares a method's result with a reference case: one row, or one per group."""
    rows = CASES[case_name]["rows"]
    if isinstance(result, fc.GroupedResult):
        assert len(result) == len(rows)
        for (key, r), row in zip(result, rows):
            assert [str(v) for v in key.values()] == [str(v) for v in row["group"]], (key, row["group"])
            close(r.to_dict(), row["fields"], case_name)
    elif isinstance(result, list):  # ttests_2samp: one row per comparison
        comparisons = rows[0]["fields"]["rows"]
        assert len(result) == len(comparisons)
        for r, want in zip(result, comparisons):
            close(r.to_dict(), want, case_name)
    else:
        close(result.to_dict(), rows[0]["fields"], case_name)


RATIO = "avg(numerator)/avg(denominator)"
RATIO_PRE = "avg(numerator_pre)/avg(denominator_pre)"


def test_ttest_2samp_matches_the_references(small):
    check("ttest_2samp mean", small.ttest_2samp("avg(numerator)", "treatment"))
    check("ttest_2samp ratio less", small.ttest_2samp(RATIO, "treatment", "less"))
    check("ttest_2samp ratio cuped ratio_pre + x1", small.ttest_2samp(RATIO, "treatment", cuped=f"{RATIO_PRE} + avg(x1)"))
    check("ttest_2samp ratio cuped ratio_pre less alpha 0.1",
          small.ttest_2samp(RATIO, "treatment", "less", cuped=RATIO_PRE, alpha=0.1))
    check("ttest_2samp ratio pse x_cat1", small.ttest_2samp(RATIO, "treatment", pse="x_cat1"))
    check("ttest_2samp mean control 1", small.ttest_2samp("avg(numerator)", "treatment", control=1))
    check("ttest_2samp ratio normal", small.ttest_2samp(RATIO, "treatment", dist="normal"))
    check("ttest_2samp mean equal_var (= scipy Student)", small.ttest_2samp("avg(y)", "treatment", equal_var=True))
    check("ttest_2samp mean where x1 > 0", small.filter("x1 > 0").ttest_2samp("avg(y)", "treatment"))


def test_fci_spelling_and_published_numbers(small):
    # FCI's ttest_2samp(Y, index, alternative, X=...) and its published numbers on this data.
    r = small.ttest_2samp(RATIO, "treatment", "two-sided", X=RATIO_PRE)
    check("ttest_2samp ratio cuped ratio_pre", r)
    assert (round(r.mean0, 6), round(r.mean1, 6), round(r.estimate, 6), round(r.stderr, 6)) == (
        0.793732, 2.486118, 1.692386, 0.026685)
    assert r.ci == (r.ci_lower, r.ci_upper) and r.ci_lower < r.estimate < r.ci_upper


def test_grouped_statistics_match_the_references(small):
    check("ttest_2samp mean by x_cat1", small.group_by("x_cat1").ttest_2samp("avg(y)", "treatment"))
    check("ttest_2samp ratio cuped ratio_pre by x_cat1",
          small.groupBy("x_cat1").ttest_2samp(RATIO, "treatment", cuped=RATIO_PRE))
    check("ttest_1samp mean by treatment", small.group_by("treatment").ttest_1samp("avg(y)", mu=10))
    check("srm counts x_cat1 by treatment", small.group_by("treatment").srm("1", "x_cat1"))
    check("mann_whitney y by x_cat1", small.group_by("x_cat1").mann_whitney_utest("y", "treatment"))
    check("ks x1 less by x_cat1", small.group_by("x_cat1").ks_2samp("x1", "treatment", "less"))
    check("mde mean by x_cat1", small.group_by("x_cat1").mde("avg(numerator)", "treatment"))
    g = small.group_by("x_cat1").ttest_2samp("avg(y)", "treatment")
    assert g.key_names == ["x_cat1"] and [k["x_cat1"] for k in g.keys] == ["A", "B", "C", "D", "E"]
    assert g.estimate.shape == (5,) and g["C"].estimate == g.estimate[2]
    table = g.to_pandas()
    assert list(table["x_cat1"]) == ["A", "B", "C", "D", "E"] and "p_value" in table.columns


def test_one_sample_multi_arm_and_counts(small):
    treated = small.filter("treatment = 1")
    check("ttest_1samp mean treated greater mu 19.5", treated.ttest_1samp("avg(numerator)", "greater", mu=19.5))
    check("ttest_1samp ratio cuped ratio_pre treated mu 2.5", treated.ttest_1samp(RATIO, mu=2.5, cuped=RATIO_PRE))
    check("ttests_2samp A/A all pairs", small.ttests_2samp("avg(x1)", "x_cat1", pairs="all"))
    check("ttests_2samp mean control C", small.ttests_2samp("avg(y)", "x_cat1", control="C"))
    check("srm counts", small.srm("1", "treatment"))
    check("srm counts x_cat1 ratios", small.srm("1", "x_cat1", [1, 1, 1, 1, 2]))


def test_rank_tests_and_power(small):
    check("mann_whitney A/A x1 less no continuity", small.mann_whitney_utest("x1", "treatment", "less", continuity=False))
    check("mann_whitney exact (x2 > 6)", small.filter("x2 > 6").mann_whitney_utest("y", "treatment"))
    check("ks small greater (x2 > 6)", small.filter("x2 > 6").ks_2samp("x3", "treatment", "greater"))
    check("mde ratio cuped ratio_pre", small.mde(RATIO, "treatment", cuped=RATIO_PRE))
    check("sample_size ratio relative cuped ratio_pre + x1",
          small.sample_size(RATIO, "treatment", 0.03, relative=True, cuped=f"{RATIO_PRE} + avg(x1)"))
    check("sample_size mean less alpha 0.1 power 0.9",
          small.sample_size("avg(numerator)", "treatment", 0.5, "less", alpha=0.1, power=0.9))


def test_deltamethod(small):
    want = load("reference")["deltamethod"]["ratio_numerator_denominator_all"]
    close(small.deltamethod(RATIO), want["std"])
    close(small.deltamethod(RATIO, std=False), want["variance"])
    by_arm = small.group_by("treatment").deltamethod(RATIO)
    arms = load("reference")["deltamethod"]
    close(list(by_arm.values), [arms[f"ratio_numerator_denominator_arm{a}"]["std"] for a in (0, 1)])


REGRESSION = load("regression")


@pytest.fixture(scope="module")
def regression_data() -> fc.DataFrame:
    return fc.from_arrow(pa.table(REGRESSION["data"]))


def check_fit(result: fc.RegressionResult, fit: dict) -> None:
    rows = result.coefficients
    assert [c["term"] for c in rows] == fit["terms"]
    for key, field in [("params", "estimate"), ("bse", "std_error"), ("tvalues", "t_value"),
                       ("pvalues", "p_value"), ("ci_lower", "ci_lower"), ("ci_upper", "ci_upper")]:
        close([c[field] for c in rows], fit[key], f"{fit['name']}.{key}")
    for key, field in [("rsquared", "r_squared"), ("rsquared_adj", "adj_r_squared"), ("llf", "log_likelihood"),
                       ("aic", "aic"), ("bic", "bic"), ("df_resid", "df_resid")]:
        close(getattr(result, field), fit[key], f"{fit['name']}.{key}")


@pytest.mark.parametrize("fit", REGRESSION["fits"], ids=[f["name"] for f in REGRESSION["fits"]])
def test_linear_models_match_statsmodels(regression_data, fit):
    cov = {"nonrobust": None}.get(fit["cov"], fit["cov"])
    if fit["weights"]:
        result = regression_data.wls(fit["formula"], "w", cov=cov)
    else:
        result = regression_data.ols(fit["formula"], cov=cov)
    check_fit(result, fit)
    summary = result.summary()
    assert fit["terms"][0] in summary and "R-squared" in summary


@pytest.mark.parametrize("fit", REGRESSION["iv_fits"], ids=[f["name"] for f in REGRESSION["iv_fits"]])
def test_iv_matches_linearmodels(regression_data, fit):
    cluster = "g" if fit["cov"] == "clustered" else None
    result = regression_data.iv("yiv ~ x1 + [d ~ z1 + z2]", cov=fit["cov"], cluster=cluster)
    rows = result.coefficients
    assert [c["term"] for c in rows] == fit["terms"]
    for key, field in [("params", "estimate"), ("bse", "std_error"), ("tvalues", "t_value"),
                       ("pvalues", "p_value"), ("ci_lower", "ci_lower"), ("ci_upper", "ci_upper")]:
        close([c[field] for c in rows], fit[key], f"{fit['name']}.{key}")
    close(result.r_squared, fit["rsquared"])
    if fit["first_stage_f"] is not None:
        close(result.first_stage[0]["f_statistic"], fit["first_stage_f"])


def test_errors_are_exceptions_with_the_sql_message(small):
    with pytest.raises(fc.FastcausalError, match="numerater"):
        small.ttest_2samp("avg(numerater)", "treatment")
    with pytest.raises(fc.FastcausalError, match="x_cat1"):
        small.ols("y ~ x_cat1")
    with pytest.raises(ValueError):
        small.limit(-1)


def test_clickhouse_shortcuts(small):
    check("welch_ttest y", small.welch_ttest("y", "treatment"))
    check("student_ttest A/A x1", small.student_ttest("x1", "treatment"))
    check("mean_z_test y level 0.9", small.mean_z_test("y", "treatment", 100, 120, 0.9))


@pytest.mark.parametrize("case", load("multipass")["predict_cases"], ids=lambda c: c["name"])
def test_stored_models_predict_as_statsmodels(tmp_path, case):
    # The case's SQL: CREATE MODEL m AS SELECT <statistic> FROM '{path}' WHERE <condition>.
    create = case["create"]
    statistic = create[create.index("SELECT ") + 7:create.index(" FROM ")]
    condition = create[create.index(" WHERE ") + 7:]
    session = fc.connect(warehouse=tmp_path / "wh")
    data = session.read_csv(REFERENCE / "test_data_small.csv")
    entry = data.filter(condition).create_model(case["model"], statistic)
    assert list(entry["version"]) == [1]
    scored = data.filter("treatment = 1 AND x5 < 0.25").predict(case["model"]).order_by("x1")
    got = scored.to_arrow().column("prediction").to_pylist()
    assert len(got) == len(case["rows"])
    for g, want in zip(got, case["rows"]):
        close(g, want, case["name"])


def sql_case(file: str, name: str) -> dict:
    return next(c for c in load(file)["sql_cases"] if c["name"] == name)


def check_sql_case(file: str, name: str, result) -> None:
    """A method's result against a reference SQL case (rows of fields, one per group)."""
    rows = sql_case(file, name)["rows"]
    if isinstance(result, fc.GroupedResult):
        assert len(result) == len(rows)
        for (key, r), row in zip(result, rows):
            close(r.to_dict(), row["fields"], f"{name} {key}")
    else:
        assert len(rows) == 1
        close(result.to_dict(), rows[0]["fields"], name)


BINS = "CAST(floor(x4 * 10) AS INT)"


def test_ols_family_on_fcis_data(small):
    fci = small.ols("y ~ x1 + x2 + t_ob")
    check_sql_case("regression", "ols classical", fci)
    # FCI's published coefficients on this data.
    assert [round(v, 6) for v in fci.params.values()] == [11.511121, 1.719414, 2.052233, 1.394370]
    check_sql_case("regression", "wls HC1", small.ols("y ~ x1 + x2 + t_ob", weights="weight", cov="HC1"))
    check_sql_case("regression", "wls clustered", small.wls("y ~ x1 + x2 + t_ob", "weight", cluster=BINS))
    check_sql_case("regression", "ols two-way clustered", small.ols("y ~ x1 + x2 + t_ob", cluster=("x_cat1", BINS)))
    check_sql_case("regression", "ols HC1 by x_cat1", small.group_by("x_cat1").ols("y ~ x1 + x2 + t_ob", cov="HC1"))
    check_sql_case("regression", "ols collinear term dropped", small.ols("y ~ x1 + x2 + I(x1 - 2 * x2) + x3", cov="HC1"))
    check_sql_case("regression", "iv robust, FCI syntax", small.iv("y ~ (t_ob ~ treatment + x3) + x1 + x2", cov="robust"))
    check_sql_case("regression", "did with covariates, clustered", small.did("y", "treatment", "t_ob", "x1", "x2", cluster=BINS))
    check_sql_case("regression", "did HC1 by x_cat1", small.group_by("x_cat1").did("y", "treatment", "t_ob", "x1", cov="HC1"))


def test_logistic_matches_statsmodels_logit(small):
    f = "t_ob ~ x1 + x2 + x3"
    check_sql_case("multipass", "logistic classical", small.logistic(f, auc=True))
    check_sql_case("multipass", "logistic two-way clustered", small.logistic(f, cluster=("x_cat1", BINS), auc=True))
    check_sql_case("multipass", "logistic by x_cat1", small.group_by("x_cat1").logistic(f, cov="HC0", auc=True))
    check_sql_case("multipass", "logistic with where", small.filter("x5 > 1").logistic(f, auc=True))
    fit = small.logistic(f)
    assert "Intercept" in fit.summary() and set(fit.params) == {"Intercept", "x1", "x2", "x3"}


def test_penalized_match_scikit_learn(small):
    f = "y ~ x1 + x2 + x3 + x4 + x5"
    check_sql_case("penalized", "lasso", small.lasso(f, 0.1))
    check_sql_case("penalized", "elastic net", small.elastic_net(f, 0.2, l1_ratio=0.3))
    check_sql_case("penalized", "ridge", small.ridge(f, 500))
    check_sql_case("penalized", "lasso standardised", small.lasso(f, 0.05, standardize=True))
    check_sql_case("penalized", "lasso by treatment", small.group_by("treatment").lasso(f, 0.1))
    check_sql_case("penalized", "lasso cross-validated", small.lasso(f))


def test_every_sql_function_has_a_method():
    # Every function documented in docs/sql.md (its headings) is a DataFrame method, and every
    # aggregate statistic also a GroupBy method: a statistic is finished only when it is here too.
    import re

    text = (REFERENCE.parents[1] / "docs" / "sql.md").read_text()
    lines = [line for line in text.splitlines() if line.startswith("#") or line.startswith("- `")]
    names = {n for line in lines for n in re.findall(r"`([a-z_0-9]+)\(", line)}
    names -= {"hash_unit"}  # used by sample/split
    assert {"ttest_2samp", "ols", "lasso", "did", "predict", "welch_ttest"} <= names, names
    for name in names:
        assert hasattr(fc.DataFrame, name), f"DataFrame has no method {name}"
        if name != "predict":
            assert hasattr(fc.GroupBy, name), f"GroupBy has no method {name}"
