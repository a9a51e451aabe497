"""The lazy :class:`DataFrame` and its :class:`GroupBy`.

A DataFrame is a plan of the engine: nothing is read or computed until rows or a statistic are
asked for. Operations take SQL expressions as strings (``df.filter("x1 > 0")``,
``df.with_column("lift", "y / y_pre")``) and are SQL over the frame's view, so every function
of the SQL reference works here, including metric expressions such as
``avg(numerator) / avg(denominator)`` in the statistics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Sequence

import pyarrow as pa

from . import _internal
from ._results import GroupedResult, RegressionResult, Result, make_result
from ._sql import Expr, call, columns, ident, literal

if TYPE_CHECKING:
    import pandas
    import polars

Alternative = Literal["two-sided", "greater", "less"]
Columns = Expr | Sequence[Expr]


class DataFrame:
    """A lazy table of the engine. Build it with :func:`fastcausal.read_parquet`,
    :func:`fastcausal.from_pandas`, :func:`fastcausal.sql` …; chain operations; run it with
    ``to_pandas()``, ``to_arrow()``, ``show()`` or a statistic.

    Example::

        df = fc.read_parquet("data.parquet")
        df.filter("x1 > 0").ttest_2samp("avg(numerator) / avg(denominator)", "treatment")
    """

    def __init__(self, session: _internal.Session, frame: _internal.Frame) -> None:
        self._session = session
        self._frame = frame

    # ---- building -------------------------------------------------------------------------

    def _sql(self, query: str) -> DataFrame:
        return DataFrame(self._session, self._session.sql(query))

    @property
    def _name(self) -> str:
        return self._frame.name()

    def select(self, *exprs: Expr) -> DataFrame:
        """Columns or SQL expressions (``"x1"``, ``"y - y_pre AS diff"``, ``"*"``).

        Example: ``df.select("treatment", "numerator / denominator AS ratio")``"""
        if not exprs:
            raise ValueError("select needs at least one column or expression")
        return self._sql(f"SELECT {', '.join(exprs)} FROM {self._name}")

    def filter(self, condition: Expr) -> DataFrame:
        """The rows where the SQL condition holds.

        Example: ``df.filter("treatment = 1 AND x1 > 0")``"""
        return self._sql(f"SELECT * FROM {self._name} WHERE {condition}")

    where = filter

    def with_column(self, name: str, expr: Expr) -> DataFrame:
        """The frame with column ``name`` set to ``expr`` (replaced in place if it exists, else
        added last).

        Example: ``df.with_column("lift", "numerator - numerator_pre")``"""
        if name in self.columns:
            return self._sql(f"SELECT * REPLACE ({expr} AS {ident(name)}) FROM {self._name}")
        return self._sql(f"SELECT *, {expr} AS {ident(name)} FROM {self._name}")

    def with_column_renamed(self, old: str, new: str) -> DataFrame:
        """The frame with column ``old`` called ``new``.

        Example: ``df.with_column_renamed("t_ob", "treated")``"""
        return DataFrame(self._session, self._frame.with_column_renamed(old, new))

    def drop(self, *names: str) -> DataFrame:
        """The frame without these columns.

        Example: ``df.drop("x4", "x5")``"""
        return DataFrame(self._session, self._frame.drop(list(names)))

    def order_by(self, *exprs: Expr) -> DataFrame:
        """Rows sorted by SQL sort keys. As in SQL, the order is that of the rows read from this
        frame; operations after it (filters, joins, statistics) need not keep it, so sort last.

        Example: ``df.order_by("x_cat1", "y DESC NULLS LAST").head()``"""
        if not exprs:
            raise ValueError("order_by needs at least one sort key")
        return self._sql(f"SELECT * FROM {self._name} ORDER BY {', '.join(exprs)}")

    sort = order_by

    def limit(self, n: int, offset: int = 0) -> DataFrame:
        """At most ``n`` rows, after skipping ``offset``.

        Example: ``df.order_by("y DESC").limit(10)``"""
        if n < 0 or offset < 0:
            raise ValueError("limit and offset cannot be negative")
        return DataFrame(self._session, self._frame.limit(n, offset))

    def join(
        self,
        other: DataFrame,
        on: str | Sequence[str] | None = None,
        how: Literal["inner", "left", "right", "full", "semi", "anti", "cross"] = "inner",
        condition: Expr | None = None,
    ) -> DataFrame:
        """SQL join: ``on`` names the key columns both frames share (kept once), or ``condition``
        is a SQL condition over ``l.`` and ``r.`` (this frame and ``other``).

        Example: ``events.join(users, on="user_id", how="left")``"""
        kinds = {"inner": "JOIN", "left": "LEFT JOIN", "right": "RIGHT JOIN", "full": "FULL JOIN",
                 "semi": "LEFT SEMI JOIN", "anti": "LEFT ANTI JOIN", "cross": "CROSS JOIN"}
        if how not in kinds:
            raise ValueError(f"unknown join '{how}': use one of {', '.join(kinds)}")
        head = f"SELECT * FROM {self._name} AS l {kinds[how]} {other._name} AS r"
        if how == "cross":
            return self._sql(head)
        if (on is None) == (condition is None):
            raise ValueError("join needs exactly one of on= (key columns) or condition= (a SQL condition)")
        if on is not None:
            keys = [on] if isinstance(on, str) else list(on)
            return self._sql(f"{head} USING ({', '.join(ident(k) for k in keys)})")
        return self._sql(f"{head} ON {condition}")

    def union(self, other: DataFrame, distinct: bool = False) -> DataFrame:
        """The rows of both frames, columns matched by position (UNION ALL, or UNION with
        ``distinct``).

        Example: ``january.union(february)``"""
        return DataFrame(self._session, self._frame.union(other._frame, distinct))

    def _row_unit(self, seed: int, by: Sequence[str] | None) -> str:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an integer, not {seed!r}")
        names = list(by) if by is not None else self.columns
        return call("hash_unit", [literal(seed), *(ident(c) for c in names)])

    def sample(self, fraction: float, seed: int = 0, by: Sequence[str] | None = None) -> DataFrame:
        """About ``fraction`` of the rows, chosen by a hash of each row's values (or of the ``by``
        columns, to keep e.g. a user's rows together) and ``seed``: the same rows on any
        partitioning, machine or run.

        Example: ``df.sample(0.1, seed=7, by=["user_id"])``"""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], not {fraction}")
        return self._sql(f"SELECT * FROM {self._name} WHERE {self._row_unit(seed, by)} < {literal(float(fraction))}")

    def split(self, test_size: float = 0.25, seed: int = 0, by: Sequence[str] | None = None) -> tuple[DataFrame, DataFrame]:
        """``(train, test)``: each row goes to test with probability ``test_size``, by the hash
        :meth:`sample` uses, so the split is reproducible and the two parts are disjoint and
        complete.

        Example: ``train, test = df.split(test_size=0.2, seed=1)``"""
        if not 0.0 <= test_size <= 1.0:
            raise ValueError(f"test_size must be in [0, 1], not {test_size}")
        unit, cut = self._row_unit(seed, by), literal(float(test_size))
        return (self._sql(f"SELECT * FROM {self._name} WHERE {unit} >= {cut}"),
                self._sql(f"SELECT * FROM {self._name} WHERE {unit} < {cut}"))

    def predict(self, model: str, version: int | None = None, level: float | None = None,
                name: str = "prediction") -> DataFrame:
        """The frame with a column ``name`` holding a stored model's prediction for each row (a
        struct: prediction, linear_predictor, std_error, ci_*, pi_*), its regressors found by
        name.

        Example: ``df.predict("adjusted", level=0.9).select("prediction['prediction']")``"""
        expr = call("predict", [literal(model)], {"version": version, "level": level})
        return self._sql(f"SELECT *, {expr} AS {ident(name)} FROM {self._name}")

    def create_model(self, name: str, statistic: Expr, replace: bool = False) -> pandas.DataFrame:
        """Fits ``statistic`` (a model call in SQL, e.g. ``"ols('y ~ treatment + x1', cov => 'HC1')"``)
        and stores it in the session's warehouse as model ``name`` (a new version with
        ``replace``), as ``CREATE MODEL``. Returns the stored version's entry.

        Example: ``df.create_model("adjusted", "ols('y ~ treatment + x1 + x2')")``"""
        verb = "CREATE OR REPLACE MODEL" if replace else "CREATE MODEL"
        return self._sql(f"{verb} {name} AS SELECT {statistic} FROM {self._name}").to_pandas()

    def group_by(self, *keys: Expr) -> GroupBy:
        """Groups for ``agg`` and for the statistics (one result per group, in one pass).

        Example: ``df.group_by("x_cat1").ttest_2samp("avg(y)", "treatment").to_pandas()``"""
        if not keys:
            raise ValueError("group_by needs at least one key")
        return GroupBy(self, keys)

    # ---- looking --------------------------------------------------------------------------

    @property
    def columns(self) -> list[str]:
        """The column names."""
        return self._frame.columns()

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema."""
        return pa.schema(self._frame.schema())

    @property
    def dtypes(self) -> dict[str, pa.DataType]:
        """Each column's Arrow type."""
        return {f.name: f.type for f in self.schema}

    def count(self) -> int:
        """The number of rows."""
        return self._frame.count()

    def __len__(self) -> int:
        return self.count()

    def head(self, n: int = 5) -> pandas.DataFrame:
        """The first ``n`` rows as pandas."""
        return self.limit(n).to_pandas()

    def show(self, n: int = 20) -> None:
        """Prints the first ``n`` rows."""
        print(self.limit(n).to_arrow().to_pandas().to_string(index=False))

    def describe(self) -> pandas.DataFrame:
        """Per column: count, nulls, mean, std, min, quartiles, max (numbers) or distinct values."""
        return pa.table(self._frame.describe()).to_pandas()

    def explain(self, verbose: bool = False, analyze: bool = False) -> str:
        """The logical and physical plans (with ``analyze``, also what each step did)."""
        return self._frame.explain(verbose, analyze)

    def __repr__(self) -> str:
        return f"DataFrame[{', '.join(f'{f.name}: {f.type}' for f in self.schema)}]"

    def _repr_html_(self) -> str:
        return self.limit(10).to_pandas().to_html(index=False)

    # ---- out ------------------------------------------------------------------------------

    def to_arrow(self) -> pa.Table:
        """Runs the plan; every row as a pyarrow Table (buffers not copied)."""
        return pa.table(self._frame.to_arrow())

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The Arrow PyCapsule stream interface: ``pa.table(df)``, ``polars.DataFrame(df)``."""
        return self._frame.to_arrow().__arrow_c_stream__(requested_schema)

    def to_pandas(self, **options: Any) -> pandas.DataFrame:
        """Runs the plan; every row as pandas, converted by pyarrow (``options`` go to
        ``pyarrow.Table.to_pandas``).

        Example: ``df.to_pandas(types_mapper=pd.ArrowDtype)`` keeps Arrow types in pandas."""
        return self.to_arrow().to_pandas(**options)

    def to_polars(self) -> polars.DataFrame:
        """Runs the plan; every row as polars (zero-copy through Arrow)."""
        import polars as pl

        return pl.from_arrow(self.to_arrow())  # type: ignore[return-value]

    def write_parquet(self, path: str) -> int:
        """Writes the rows to a Parquet file (snappy), which appears only when complete.
        Returns the rows written."""
        return self._frame.write(str(path), "parquet")

    def write_csv(self, path: str) -> int:
        """Writes the rows to a CSV file with a header (statistics' fields as columns), which
        appears only when complete. Returns the rows written."""
        return self._frame.write(str(path), "csv")

    # ---- statistics -----------------------------------------------------------------------

    def _statistic(self, name: str, expression: str) -> Any:
        table = self._sql(f"SELECT {expression} AS result FROM {self._name}").to_arrow()
        return make_result(name, table.column("result"), 0)

    def deltamethod(self, metric: Expr, std: bool = True) -> float:
        """The delta-method standard error (or variance, ``std=False``) of a metric expression.

        Example: ``df.deltamethod("avg(numerator) / avg(denominator)")``"""
        return self._statistic("deltamethod", _deltamethod(metric, std))

    def ttest_1samp(self, metric: Expr, alternative: Alternative = "two-sided", mu: float = 0.0,
                    cuped: Expr | None = None, pse: Expr | None = None, alpha: float = 0.05,
                    dist: Literal["t", "normal"] = "t") -> Result:
        """One-sample t-test of H₀: metric = ``mu``.

        Example: ``df.ttest_1samp("avg(y)", mu=10).p_value``"""
        return self._statistic("ttest_1samp", _ttest_1samp(metric, alternative, mu, cuped, pse, alpha, dist))

    def ttest_2samp(self, metric: Expr, treatment: Expr, alternative: Alternative = "two-sided",
                    cuped: Expr | None = None, pse: Expr | None = None, control: Any = None,
                    alpha: float = 0.05, dist: Literal["t", "normal"] = "t", equal_var: bool = False,
                    X: Expr | None = None) -> Result:
        """Two-sample t-test of a metric, treatment − control (Welch by default), with CUPED
        (``cuped=`` covariate metrics; FCI's ``X=``) or post-stratification (``pse=``).

        Example: ``df.ttest_2samp("avg(numerator)", "treatment", cuped="avg(numerator_pre)")``"""
        return self._statistic("ttest_2samp", _ttest_2samp(metric, treatment, alternative, cuped or X, pse,
                                                           control, alpha, dist, equal_var))

    def ttests_2samp(self, metric: Expr, treatment: Expr, alternative: Alternative = "two-sided",
                     cuped: Expr | None = None, control: Any = None, pairs: Literal["control", "all"] = "control",
                     alpha: float = 0.05, dist: Literal["t", "normal"] = "t", equal_var: bool = False) -> list[Result]:
        """Several arms: each against the control (or every pair), with Holm and
        Benjamini–Hochberg adjusted p-values. One result per comparison.

        Example: ``[r.p_value_holm for r in df.ttests_2samp("avg(y)", "x_cat1")]``"""
        return self._statistic("ttest_2samp", _ttests_2samp(metric, treatment, alternative, cuped, control, pairs,
                                                            alpha, dist, equal_var))

    def welch_ttest(self, value: Expr, treatment: Expr, alternative: Alternative = "two-sided",
                    control: Any = None, alpha: float = 0.05) -> Result:
        """ClickHouse's welchTTest, treatment − control: ``ttest_2samp("avg(value)", treatment)``.

        Example: ``df.welch_ttest("y", "treatment").p_value``"""
        return self._statistic("welch_ttest", _shortcut("welch_ttest", value, treatment, alternative, control, alpha))

    def student_ttest(self, value: Expr, treatment: Expr, alternative: Alternative = "two-sided",
                      control: Any = None, alpha: float = 0.05) -> Result:
        """ClickHouse's studentTTest (pooled variance), treatment − control.

        Example: ``df.student_ttest("y", "treatment").t_statistic``"""
        return self._statistic("student_ttest", _shortcut("student_ttest", value, treatment, alternative, control, alpha))

    def mean_z_test(self, value: Expr, treatment: Expr, var_control: float, var_treatment: float,
                    confidence_level: float = 0.95) -> Result:
        """The z-test with known per-row variances (ClickHouse's meanZTest), treatment − control.

        Example: ``df.mean_z_test("y", "treatment", 100, 120).p_value``"""
        return self._statistic("mean_z_test", call("mean_z_test", [value, treatment, literal(var_control),
                                                                   literal(var_treatment), literal(confidence_level)]))

    def srm(self, count: Expr, treatment: Expr, ratios: Sequence[float] | None = None) -> Result:
        """Sample-ratio mismatch: the arms' totals of ``count`` (``"1"`` counts rows) against
        the designed ratios (equal by default), Pearson's chi-square.

        Example: ``df.srm("1", "treatment").p_value``"""
        return self._statistic("srm", _srm(count, treatment, ratios))

    def mann_whitney_utest(self, value: Expr, treatment: Expr, alternative: Alternative = "two-sided",
                           continuity: bool = True, control: Any = None) -> Result:
        """Mann–Whitney U test of treatment against control, as scipy.stats.mannwhitneyu.

        Example: ``df.mann_whitney_utest("y", "treatment", "greater").p_value``"""
        return self._statistic("mann_whitney_utest", _mann_whitney(value, treatment, alternative, continuity, control))

    def ks_2samp(self, value: Expr, treatment: Expr, alternative: Alternative = "two-sided",
                 control: Any = None) -> Result:
        """Two-sample Kolmogorov–Smirnov test, as scipy.stats.ks_2samp.

        Example: ``df.ks_2samp("y", "treatment").d``"""
        return self._statistic("ks_2samp", _ks(value, treatment, alternative, control))

    def mde(self, metric: Expr, treatment: Expr, alternative: Alternative = "two-sided", cuped: Expr | None = None,
            control: Any = None, alpha: float = 0.05, power: float = 0.8) -> Result:
        """Minimum detectable effect at the experiment's current size.

        Example: ``df.mde("avg(y)", "treatment", power=0.9).relative_mde``"""
        return self._statistic("mde", _mde(metric, treatment, alternative, cuped, control, alpha, power))

    def sample_size(self, metric: Expr, treatment: Expr, effect: float, alternative: Alternative = "two-sided",
                    relative: bool = False, cuped: Expr | None = None, control: Any = None, alpha: float = 0.05,
                    power: float = 0.8) -> Result:
        """Rows per arm to detect ``effect`` (absolute, or relative to the control).

        Example: ``df.sample_size("avg(y)", "treatment", 0.02, relative=True).n_per_arm``"""
        return self._statistic("sample_size", _sample_size(metric, treatment, effect, alternative, relative, cuped,
                                                           control, alpha, power))

    def ols(self, formula: str, weights: Expr | None = None,
            cov: Literal["classical", "HC0", "HC1", "HC2", "HC3"] | None = None,
            cluster: Columns | None = None, alpha: float = 0.05) -> RegressionResult:
        """Least squares from a formula, as statsmodels (``cov=`` robust errors, ``cluster=``
        one or two cluster columns).

        Example: ``print(df.ols("y ~ treatment + x1 + x2", cov="HC1").summary())``"""
        return self._statistic("ols", _linear("ols", formula, None, weights, cov, cluster, alpha))

    def wls(self, formula: str, weights: Expr, cov: Literal["classical", "HC0", "HC1", "HC2", "HC3"] | None = None,
            cluster: Columns | None = None, alpha: float = 0.05) -> RegressionResult:
        """Weighted least squares, as statsmodels' WLS.

        Example: ``df.wls("y ~ x1 + x2", "weight", cov="HC1").params``"""
        return self._statistic("wls", _linear("wls", formula, weights, None, cov, cluster, alpha))

    def logistic(self, formula: str, cov: Literal["classical", "HC0", "HC1"] | None = None,
                 cluster: Columns | None = None, alpha: float = 0.05, auc: bool = False) -> RegressionResult:
        """Logistic regression by exact maximum likelihood, as statsmodels' Logit.

        Example: ``df.logistic("t_ob ~ x1 + x2 + x3", auc=True).auc``"""
        return self._statistic("logistic", _logistic(formula, cov, cluster, alpha, auc))

    def iv(self, formula: str, cov: Literal["unadjusted", "robust", "clustered"] | None = None,
           cluster: Columns | None = None, alpha: float = 0.05) -> RegressionResult:
        """Two-stage least squares, ``"y ~ x1 + [t ~ z]"``, as linearmodels' IV2SLS.

        Example: ``df.iv("y ~ x1 + x2 + [t_ob ~ treatment]", cov="robust").first_stage``"""
        return self._statistic("iv", _iv(formula, cov, cluster, alpha))

    def did(self, y: Expr, treated: Expr, post: Expr, *covariates: Expr, weights: Expr | None = None,
            cov: Literal["classical", "HC0", "HC1"] | None = None, cluster: Columns | None = None,
            alpha: float = 0.05) -> Result:
        """Difference in differences: the treated × post coefficient of OLS.

        Example: ``panel.did("y", "treated", "post", cluster="unit").estimate``"""
        return self._statistic("did", _did(y, treated, post, covariates, weights, cov, cluster, alpha))

    def ridge(self, formula: str, lam: float, standardize: bool = False) -> RegressionResult:
        """Ridge regression, as scikit-learn's Ridge(alpha=lam).

        Example: ``df.ridge("y ~ x1 + x2 + x3", 1.0).params``"""
        return self._statistic("ridge", _penalized("ridge", formula, lam, None, standardize, None, None))

    def lasso(self, formula: str, lam: float | None = None, standardize: bool = False, folds: int | None = None,
              path_length: int | None = None) -> RegressionResult:
        """The lasso, as scikit-learn's Lasso(alpha=lam); without ``lam``, chosen by k-fold
        cross-validation (as LassoCV).

        Example: ``df.lasso("y ~ x1 + x2 + x3 + x4", folds=5).lambda_min``"""
        return self._statistic("lasso", _penalized("lasso", formula, lam, None, standardize, folds, path_length))

    def elastic_net(self, formula: str, lam: float | None = None, l1_ratio: float = 0.5, standardize: bool = False,
                    folds: int | None = None, path_length: int | None = None) -> RegressionResult:
        """The elastic net, as scikit-learn's ElasticNet(alpha=lam, l1_ratio=l1_ratio).

        Example: ``df.elastic_net("y ~ x1 + x2", 0.1, l1_ratio=0.3).objective``"""
        return self._statistic("elastic_net", _penalized("elastic_net", formula, lam, l1_ratio, standardize, folds,
                                                         path_length))

    # ---- FCI's spellings ------------------------------------------------------------------

    groupBy = group_by
    withColumn = with_column
    withColumnRenamed = with_column_renamed
    orderBy = order_by
    toPandas = to_pandas


class GroupBy:
    """A DataFrame grouped by keys: ``agg`` for SQL aggregates, and every statistic, one result
    per group in one pass (groups sorted by key)."""

    def __init__(self, df: DataFrame, keys: Sequence[Expr]) -> None:
        self._df = df
        self._keys = list(keys)

    def agg(self, *exprs: Expr) -> DataFrame:
        """SQL aggregates per group, keys first, sorted by key.

        Example: ``df.group_by("treatment").agg("count(*) AS n", "avg(y) AS mean_y")``"""
        if not exprs:
            raise ValueError("agg needs at least one aggregate")
        keys = ", ".join(self._keys)
        return self._df._sql(f"SELECT {keys}, {', '.join(exprs)} FROM {self._df._name} GROUP BY {keys} ORDER BY {keys}")

    def _statistic(self, name: str, expression: str) -> GroupedResult:
        keys = ", ".join(f"{k} AS {ident(f'key{i}')}" for i, k in enumerate(self._keys))
        group = ", ".join(self._keys)
        table = self._df._sql(
            f"SELECT {keys}, {expression} AS result FROM {self._df._name} GROUP BY {group} ORDER BY {group}"
        ).to_arrow()
        names = [_key_name(k) for k in self._keys]
        key_rows = [{n: row[f"key{i}"] for i, n in enumerate(names)} for row in table.drop(["result"]).to_pylist()]
        results = [make_result(name, table.column("result"), i) for i in range(table.num_rows)]
        return GroupedResult(name, names, key_rows, results)

    def deltamethod(self, metric: Expr, std: bool = True) -> GroupedResult:
        """:meth:`DataFrame.deltamethod` per group."""
        return self._statistic("deltamethod", _deltamethod(metric, std))

    def ttest_1samp(self, metric: Expr, alternative: Alternative = "two-sided", mu: float = 0.0,
                    cuped: Expr | None = None, pse: Expr | None = None, alpha: float = 0.05,
                    dist: Literal["t", "normal"] = "t") -> GroupedResult:
        """:meth:`DataFrame.ttest_1samp` per group."""
        return self._statistic("ttest_1samp", _ttest_1samp(metric, alternative, mu, cuped, pse, alpha, dist))

    def ttest_2samp(self, metric: Expr, treatment: Expr, alternative: Alternative = "two-sided",
                    cuped: Expr | None = None, pse: Expr | None = None, control: Any = None,
                    alpha: float = 0.05, dist: Literal["t", "normal"] = "t", equal_var: bool = False,
                    X: Expr | None = None) -> GroupedResult:
        """:meth:`DataFrame.ttest_2samp` per group."""
        return self._statistic("ttest_2samp", _ttest_2samp(metric, treatment, alternative, cuped or X, pse, control,
                                                           alpha, dist, equal_var))

    def srm(self, count: Expr, treatment: Expr, ratios: Sequence[float] | None = None) -> GroupedResult:
        """:meth:`DataFrame.srm` per group."""
        return self._statistic("srm", _srm(count, treatment, ratios))

    def mann_whitney_utest(self, value: Expr, treatment: Expr, alternative: Alternative = "two-sided",
                           continuity: bool = True, control: Any = None) -> GroupedResult:
        """:meth:`DataFrame.mann_whitney_utest` per group."""
        return self._statistic("mann_whitney_utest", _mann_whitney(value, treatment, alternative, continuity, control))

    def ks_2samp(self, value: Expr, treatment: Expr, alternative: Alternative = "two-sided",
                 control: Any = None) -> GroupedResult:
        """:meth:`DataFrame.ks_2samp` per group."""
        return self._statistic("ks_2samp", _ks(value, treatment, alternative, control))

    def mde(self, metric: Expr, treatment: Expr, alternative: Alternative = "two-sided", cuped: Expr | None = None,
            control: Any = None, alpha: float = 0.05, power: float = 0.8) -> GroupedResult:
        """:meth:`DataFrame.mde` per group."""
        return self._statistic("mde", _mde(metric, treatment, alternative, cuped, control, alpha, power))

    def ols(self, formula: str, weights: Expr | None = None,
            cov: Literal["classical", "HC0", "HC1", "HC2", "HC3"] | None = None,
            cluster: Columns | None = None, alpha: float = 0.05) -> GroupedResult:
        """:meth:`DataFrame.ols` per group."""
        return self._statistic("ols", _linear("ols", formula, None, weights, cov, cluster, alpha))

    def wls(self, formula: str, weights: Expr, cov: Literal["classical", "HC0", "HC1", "HC2", "HC3"] | None = None,
            cluster: Columns | None = None, alpha: float = 0.05) -> GroupedResult:
        """:meth:`DataFrame.wls` per group."""
        return self._statistic("wls", _linear("wls", formula, weights, None, cov, cluster, alpha))

    def logistic(self, formula: str, cov: Literal["classical", "HC0", "HC1"] | None = None,
                 cluster: Columns | None = None, alpha: float = 0.05, auc: bool = False) -> GroupedResult:
        """:meth:`DataFrame.logistic` per group."""
        return self._statistic("logistic", _logistic(formula, cov, cluster, alpha, auc))

    def iv(self, formula: str, cov: Literal["unadjusted", "robust", "clustered"] | None = None,
           cluster: Columns | None = None, alpha: float = 0.05) -> GroupedResult:
        """:meth:`DataFrame.iv` per group."""
        return self._statistic("iv", _iv(formula, cov, cluster, alpha))

    def did(self, y: Expr, treated: Expr, post: Expr, *covariates: Expr, weights: Expr | None = None,
            cov: Literal["classical", "HC0", "HC1"] | None = None, cluster: Columns | None = None,
            alpha: float = 0.05) -> GroupedResult:
        """:meth:`DataFrame.did` per group."""
        return self._statistic("did", _did(y, treated, post, covariates, weights, cov, cluster, alpha))


    def ttests_2samp(self, metric: Expr, treatment: Expr, alternative: Alternative = "two-sided",
                     cuped: Expr | None = None, control: Any = None, pairs: Literal["control", "all"] = "control",
                     alpha: float = 0.05, dist: Literal["t", "normal"] = "t", equal_var: bool = False) -> GroupedResult:
        """:meth:`DataFrame.ttests_2samp` per group (each group's result is a list of comparisons)."""
        return self._statistic("ttest_2samp", _ttests_2samp(metric, treatment, alternative, cuped, control, pairs,
                                                            alpha, dist, equal_var))

    def welch_ttest(self, value: Expr, treatment: Expr, alternative: Alternative = "two-sided",
                    control: Any = None, alpha: float = 0.05) -> GroupedResult:
        """:meth:`DataFrame.welch_ttest` per group."""
        return self._statistic("welch_ttest", _shortcut("welch_ttest", value, treatment, alternative, control, alpha))

    def student_ttest(self, value: Expr, treatment: Expr, alternative: Alternative = "two-sided",
                      control: Any = None, alpha: float = 0.05) -> GroupedResult:
        """:meth:`DataFrame.student_ttest` per group."""
        return self._statistic("student_ttest", _shortcut("student_ttest", value, treatment, alternative, control, alpha))

    def mean_z_test(self, value: Expr, treatment: Expr, var_control: float, var_treatment: float,
                    confidence_level: float = 0.95) -> GroupedResult:
        """:meth:`DataFrame.mean_z_test` per group."""
        return self._statistic("mean_z_test", call("mean_z_test", [value, treatment, literal(var_control),
                                                                   literal(var_treatment), literal(confidence_level)]))

    def sample_size(self, metric: Expr, treatment: Expr, effect: float, alternative: Alternative = "two-sided",
                    relative: bool = False, cuped: Expr | None = None, control: Any = None, alpha: float = 0.05,
                    power: float = 0.8) -> GroupedResult:
        """:meth:`DataFrame.sample_size` per group."""
        return self._statistic("sample_size", _sample_size(metric, treatment, effect, alternative, relative, cuped,
                                                           control, alpha, power))

    def ridge(self, formula: str, lam: float, standardize: bool = False) -> GroupedResult:
        """:meth:`DataFrame.ridge` per group."""
        return self._statistic("ridge", _penalized("ridge", formula, lam, None, standardize, None, None))

    def lasso(self, formula: str, lam: float | None = None, standardize: bool = False, folds: int | None = None,
              path_length: int | None = None) -> GroupedResult:
        """:meth:`DataFrame.lasso` per group."""
        return self._statistic("lasso", _penalized("lasso", formula, lam, None, standardize, folds, path_length))

    def elastic_net(self, formula: str, lam: float | None = None, l1_ratio: float = 0.5, standardize: bool = False,
                    folds: int | None = None, path_length: int | None = None) -> GroupedResult:
        """:meth:`DataFrame.elastic_net` per group."""
        return self._statistic("elastic_net", _penalized("elastic_net", formula, lam, l1_ratio, standardize, folds,
                                                         path_length))


def _key_name(expr: str) -> str:
    """A group key's name in results: the column for a (possibly quoted) column, else the
    expression."""
    e = expr.strip()
    if len(e) > 1 and e[0] == e[-1] == '"':
        return e[1:-1].replace('""', '"')
    return e


# The SQL of each statistic, shared by DataFrame and GroupBy.

def _deltamethod(metric: Expr, std: bool) -> str:
    return call("deltamethod", [metric], {"std": std})


def _ttest_1samp(metric, alternative, mu, cuped, pse, alpha, dist) -> str:
    return call("ttest_1samp", [metric, literal(alternative)], {"mu": mu, "alpha": alpha, "dist": dist},
                {"cuped": cuped, "pse": pse})


def _ttest_2samp(metric, treatment, alternative, cuped, pse, control, alpha, dist, equal_var) -> str:
    return call("ttest_2samp", [metric, treatment, literal(alternative)],
                {"control": control, "alpha": alpha, "dist": dist, "equal_var": equal_var},
                {"cuped": cuped, "pse": pse})


def _ttests_2samp(metric, treatment, alternative, cuped, control, pairs, alpha, dist, equal_var) -> str:
    return call("ttests_2samp", [metric, treatment, literal(alternative)],
                {"control": control, "pairs": pairs, "alpha": alpha, "dist": dist, "equal_var": equal_var},
                {"cuped": cuped})


def _shortcut(name, value, treatment, alternative, control, alpha) -> str:
    return call(name, [value, treatment, literal(alternative)], {"control": control, "alpha": alpha})


def _srm(count, treatment, ratios) -> str:
    return call("srm", [count, treatment] + ([literal(list(ratios))] if ratios is not None else []))


def _mann_whitney(value, treatment, alternative, continuity, control) -> str:
    return call("mann_whitney_utest", [value, treatment, literal(alternative)],
                {"continuity": continuity, "control": control})


def _ks(value, treatment, alternative, control) -> str:
    return call("ks_2samp", [value, treatment, literal(alternative)], {"control": control})


def _mde(metric, treatment, alternative, cuped, control, alpha, power) -> str:
    return call("mde", [metric, treatment, literal(alternative)], {"control": control, "alpha": alpha, "power": power},
                {"cuped": cuped})


def _sample_size(metric, treatment, effect, alternative, relative, cuped, control, alpha, power) -> str:
    return call("sample_size", [metric, treatment, literal(effect), literal(alternative)],
                {"relative": relative, "control": control, "alpha": alpha, "power": power}, {"cuped": cuped})


def _linear(name, formula, weights_arg, weights, cov, cluster, alpha) -> str:
    args = [literal(formula)] + ([weights_arg] if weights_arg is not None else [])
    return call(name, args, {"cov": cov, "alpha": alpha}, {"weights": weights, "cluster": cluster})


def _logistic(formula, cov, cluster, alpha, auc) -> str:
    return call("logistic", [literal(formula)], {"cov": cov, "alpha": alpha, "auc": auc}, {"cluster": cluster})


def _iv(formula, cov, cluster, alpha) -> str:
    return call("iv", [literal(formula)], {"cov": cov, "alpha": alpha}, {"cluster": cluster})


def _did(y, treated, post, covariates, weights, cov, cluster, alpha) -> str:
    return call("did", [y, treated, post, *covariates], {"cov": cov, "alpha": alpha},
                {"weights": weights, "cluster": cluster})


def _penalized(name, formula, lam, l1_ratio, standardize, folds, path_length) -> str:
    return call(name, [literal(formula)], {"lambda": lam, "l1_ratio": l1_ratio, "standardize": standardize,
                                           "folds": folds, "path_length": path_length})
