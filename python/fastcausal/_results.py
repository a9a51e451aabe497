"""Results of statistics: objects with the SQL struct's fields as attributes.

A statistic returns one struct per group (see ``docs/sql.md`` for every field). Here a struct is
a :class:`Result` whose fields are attributes (``r.estimate``, ``r.p_value``), with ``r.ci`` for
the interval, ``to_dict()``, ``to_pandas()``, ``summary()`` text and an HTML table for Jupyter.
A grouped statistic gives a :class:`GroupedResult`: one result per group, whose attributes are
arrays over the groups, and ``to_pandas()`` a table with a row per group.
"""

from __future__ import annotations

import html
import math
from typing import Any, Iterator, Sequence

import pyarrow as pa

from . import _internal


def _format(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.10g}"
    if value is None:
        return "NULL"
    return str(value)


class Result:
    """One statistic's result: every field of its SQL struct as an attribute.

    Example::

        r = df.ttest_2samp("avg(numerator)", "treatment")
        r.estimate, r.p_value, r.ci
    """

    __slots__ = ("_fields", "_statistic", "_arrow")

    def __init__(self, statistic: str, fields: dict[str, Any], arrow: pa.Array | None = None) -> None:
        object.__setattr__(self, "_statistic", statistic)
        object.__setattr__(self, "_fields", fields)
        # The struct as Arrow (one value), for the engine's own rendering.
        object.__setattr__(self, "_arrow", arrow)

    def __getattr__(self, name: str) -> Any:
        fields = object.__getattribute__(self, "_fields")
        if name in fields:
            return fields[name]
        raise AttributeError(f"{type(self).__name__} has no field '{name}' (fields: {', '.join(fields)})")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("results are read-only")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._fields))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Result) and self._fields == other._fields

    @property
    def fields(self) -> list[str]:
        """The field names, in the struct's order."""
        return list(self._fields)

    @property
    def ci(self) -> tuple[float, float]:
        """The confidence interval ``(ci_lower, ci_upper)``."""
        return (self._fields["ci_lower"], self._fields["ci_upper"])

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (nested rows as dicts and lists)."""
        return dict(self._fields)

    def to_pandas(self) -> Any:
        """A one-row pandas DataFrame of the scalar fields."""
        import pandas as pd

        return pd.DataFrame([{k: v for k, v in self._fields.items() if not isinstance(v, (list, dict))}])

    def summary(self) -> str:
        """The fields as aligned text, one per line."""
        width = max((len(k) for k in self._fields), default=0)
        lines = [f"{self._statistic}"]
        for k, v in self._fields.items():
            lines.append(f"  {k:<{width}}  {_format(v)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={_format(v)}" for k, v in self._fields.items() if not isinstance(v, (list, dict)))
        return f"{type(self).__name__}({shown})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(_format(v))}</td></tr>"
            for k, v in self._fields.items()
            if not isinstance(v, (list, dict))
        )
        return f"<table><caption>{html.escape(self._statistic)}</caption>{rows}</table>"


class TTestResult(Result):
    """``ttest_2samp`` (and its shortcuts): treatment − control, Welch's t by default."""

    control_arm: str
    treatment_arm: str
    n0: int
    n1: int
    mean0: float
    mean1: float
    estimate: float
    stderr: float
    t_statistic: float
    df: float | None
    p_value: float
    ci_lower: float
    ci_upper: float
    relative_estimate: float
    relative_ci_lower: float
    relative_ci_upper: float
    theta: list[float] | None
    variance_reduction: float | None


class OneSampleResult(Result):
    """``ttest_1samp``: H₀ metric = mu."""

    n: int
    estimate: float
    mu: float
    stderr: float
    t_statistic: float
    df: float | None
    p_value: float
    ci_lower: float
    ci_upper: float
    theta: list[float] | None
    variance_reduction: float | None


class SrmResult(Result):
    """``srm``: Pearson's chi-square of the arms' totals against the designed ratios."""

    chi_square: float
    df: int
    p_value: float
    arms: list[str]
    observed: list[float]
    expected: list[float]


class RankTestResult(Result):
    """``mann_whitney_utest`` and ``ks_2samp``, as scipy."""

    control_arm: str
    treatment_arm: str
    n0: int
    n1: int
    p_value: float
    method: str


class PowerResult(Result):
    """``mde`` and ``sample_size``."""


class RegressionResult(Result):
    """A fitted model (``ols``, ``wls``, ``logistic``, ``iv``, ``ridge``/``lasso``/``elastic_net``):
    the coefficient rows and the model statistics. ``params`` maps terms to estimates,
    ``summary()`` is the R/statsmodels-style summary the command line prints."""

    formula: str
    coefficients: list[dict[str, Any]]
    n: int

    @property
    def params(self) -> dict[str, float | None]:
        """Each term's estimate (None for a dropped term)."""
        return {c["term"]: c["estimate"] for c in self._fields["coefficients"]}

    @property
    def std_errors(self) -> dict[str, float | None]:
        """Each term's standard error."""
        return {c["term"]: c.get("std_error") for c in self._fields["coefficients"]}

    def coefficient(self, term: str) -> dict[str, Any]:
        """The row of one term (estimate, std_error, t_value, p_value, ci_lower, ci_upper)."""
        for c in self._fields["coefficients"]:
            if c["term"] == term:
                return dict(c)
        raise KeyError(f"no term '{term}' (terms: {', '.join(c['term'] for c in self._fields['coefficients'])})")

    def coefficients_table(self) -> Any:
        """The coefficient rows as a pandas DataFrame indexed by term."""
        import pandas as pd

        return pd.DataFrame(self._fields["coefficients"]).set_index("term")

    def to_pandas(self) -> Any:
        """The coefficient rows as a pandas DataFrame indexed by term."""
        return self.coefficients_table()

    def summary(self) -> str:
        """The R/statsmodels-style summary: coefficient table, then the model statistics."""
        arrow = self._arrow if self._arrow is not None else pa.array([self._fields])
        return _internal.render_summary(pa.table({self._statistic: arrow}))

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(k)}</th>" for k in self._fields["coefficients"][0]) if self.coefficients else ""
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_format(v))}</td>" for v in c.values()) + "</tr>"
            for c in self._fields["coefficients"]
        )
        stats = ", ".join(
            f"{k} = {_format(v)}" for k, v in self._fields.items() if not isinstance(v, (list, dict)) and k != "formula"
        )
        return (
            f"<div><b>{html.escape(self._statistic)}</b>: <code>{html.escape(str(self._fields.get('formula', '')))}</code>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><p>{html.escape(stats)}</p></div>"
        )


class DidResult(Result):
    """``did``: the treated × post coefficient of the OLS fit."""

    estimate: float
    std_error: float
    t_value: float
    p_value: float
    ci_lower: float
    ci_upper: float
    n: int
    df_resid: float
    r_squared: float
    cov_type: str


class GroupedResult:
    """A statistic per group: ``keys`` (one dict per group), ``results``, field arrays as
    attributes (``g.estimate`` is a numpy array over the groups) and ``to_pandas()``."""

    def __init__(self, statistic: str, key_names: Sequence[str], keys: list[dict[str, Any]], results: list[Result | None]):
        self._statistic = statistic
        self.key_names = list(key_names)
        self.keys = keys
        self.results = results

    def __len__(self) -> int:
        return len(self.results)

    @property
    def values(self) -> Any:
        """The results as a numpy array, for a statistic whose result is a number
        (``deltamethod``)."""
        import numpy as np

        return np.array([np.nan if r is None else r for r in self.results], dtype=float)

    def __iter__(self) -> Iterator[tuple[dict[str, Any], Result | None]]:
        return iter(zip(self.keys, self.results))

    def __getitem__(self, key: Any) -> Result | None:
        """The result of one group, by its key value (or tuple of values for several keys)."""
        want = key if isinstance(key, tuple) else (key,)
        for k, r in zip(self.keys, self.results):
            if tuple(k[n] for n in self.key_names) == want:
                return r
        raise KeyError(f"no group {key!r}")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        import numpy as np

        present = [r for r in self.results if r is not None]
        if not present or name not in present[0].fields:
            raise AttributeError(f"no field '{name}'")
        values = [None if r is None else getattr(r, name) for r in self.results]
        if all(isinstance(v, (int, float)) or v is None for v in values):
            return np.array([np.nan if v is None else v for v in values], dtype=float)
        return values

    def to_pandas(self) -> Any:
        """A row per group: the key columns, then the result's scalar fields."""
        import pandas as pd

        rows = []
        for k, r in zip(self.keys, self.results):
            fields = {} if r is None else {f: v for f, v in r.to_dict().items() if not isinstance(v, (list, dict))}
            rows.append({**k, **fields})
        return pd.DataFrame(rows)

    def summary(self) -> str:
        return "\n\n".join(
            f"{', '.join(f'{n} = {k[n]}' for n in self.key_names)}\n" + ("NULL" if r is None else r.summary())
            for k, r in zip(self.keys, self.results)
        )

    def __repr__(self) -> str:
        return f"GroupedResult({self._statistic}, {len(self)} groups by {', '.join(self.key_names)})"

    def _repr_html_(self) -> str:
        return self.to_pandas().to_html()


_KINDS: dict[str, type[Result]] = {
    "ttest_2samp": TTestResult,
    "welch_ttest": TTestResult,
    "student_ttest": TTestResult,
    "mean_z_test": TTestResult,
    "ttest_1samp": OneSampleResult,
    "srm": SrmResult,
    "mann_whitney_utest": RankTestResult,
    "ks_2samp": RankTestResult,
    "mde": PowerResult,
    "sample_size": PowerResult,
    "ols": RegressionResult,
    "wls": RegressionResult,
    "logistic": RegressionResult,
    "iv": RegressionResult,
    "ridge": RegressionResult,
    "lasso": RegressionResult,
    "elastic_net": RegressionResult,
    "did": DidResult,
}


def make_result(statistic: str, column: pa.ChunkedArray | pa.Array, row: int) -> Any:
    """The Python object for row ``row`` of a statistic's result column: a result for a struct,
    a list of results for a list of structs (``ttests_2samp``), None for NULL."""
    arrow = column.slice(row, 1)
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    value = arrow.to_pylist()[0]
    if value is None:
        return None
    kind = _KINDS.get(statistic, Result)
    if isinstance(value, list):
        items = arrow.flatten()
        return [kind(statistic, v, items.slice(i, 1)) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    return kind(statistic, value, arrow)
