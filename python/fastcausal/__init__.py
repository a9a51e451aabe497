"""fastcausal: experiment analysis and causal inference on a Rust engine (Apache DataFusion).

Read data lazily, chain SQL-expression operations, and call statistics as methods; everything
runs in the engine, in parallel, with the GIL released (Ctrl-C stops a long call)::

    import fastcausal as fc

    df = fc.read_parquet("data.parquet")
    r = df.ttest_2samp("avg(numerator) / avg(denominator)", "treatment",
                       cuped="avg(numerator_pre) / avg(denominator_pre)")
    r.estimate, r.p_value, r.ci
    df.group_by("x_cat1").ttest_2samp("avg(y)", "treatment").to_pandas()
    print(df.ols("y ~ treatment + x1 + x2", cov="HC1").summary())

Module-level functions use a default session whose warehouse is ``$FASTCAUSAL_WAREHOUSE`` or
``.fastcausal`` (as the command line); :func:`connect` makes another.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from . import _internal
from ._frame import DataFrame, GroupBy
from ._internal import FastcausalError
from ._results import (
    DidResult,
    GroupedResult,
    OneSampleResult,
    PowerResult,
    RankTestResult,
    RegressionResult,
    Result,
    SrmResult,
    TTestResult,
)

if TYPE_CHECKING:
    import pandas
    import polars

__version__: str = _internal.__version__

__all__ = [
    "DataFrame", "GroupBy", "Session", "FastcausalError", "Result", "GroupedResult", "TTestResult",
    "OneSampleResult", "SrmResult", "RankTestResult", "PowerResult", "RegressionResult",
    "DidResult", "connect", "sql", "table", "tables", "read_parquet", "read_csv", "read_json", "from_arrow",
    "from_pandas", "from_polars", "readCsv", "readParquet",
]


class Session:
    """An engine session: a warehouse of named tables (or none), files, Arrow data and SQL.

    Example::

        s = fc.connect(warehouse="my_warehouse")
        s.table("experiment").ttest_2samp("avg(y)", "treatment")
    """

    def __init__(self, warehouse: str | os.PathLike[str] | None = None) -> None:
        self._session = _internal.Session(None if warehouse is None else os.fspath(warehouse))

    @property
    def warehouse(self) -> str | None:
        """The warehouse directory, or None."""
        w = self._session.warehouse
        return None if w is None else os.fspath(w)

    def _frame(self, frame: _internal.Frame) -> DataFrame:
        return DataFrame(self._session, frame)

    def sql(self, query: str) -> DataFrame:
        """Runs SQL (every fastcausal function, warehouse tables and file paths by name); returns
        the last statement's result as a lazy DataFrame.

        Example: ``fc.sql("SELECT srm(1, treatment) FROM 'data.parquet'").to_pandas()``"""
        return self._frame(self._session.sql(query))

    def table(self, name: str) -> DataFrame:
        """A warehouse table by name."""
        return self._frame(self._session.table(name))

    def tables(self) -> list[str]:
        """The warehouse's table names."""
        return self._session.tables()

    def read_parquet(self, path: str | os.PathLike[str]) -> DataFrame:
        """Parquet file(s): a file, a glob (``"data/*.parquet"``) or a directory; read lazily,
        memory-mapped."""
        return self._frame(self._session.read(os.fspath(path), "parquet"))

    def read_csv(self, path: str | os.PathLike[str], delimiter: str | None = None,
                 has_header: bool | None = None) -> DataFrame:
        """CSV file(s), optionally compressed (``.csv.gz``); the delimiter and header are sniffed
        unless given."""
        return self._frame(self._session.read(os.fspath(path), "csv", delimiter, has_header))

    def read_json(self, path: str | os.PathLike[str]) -> DataFrame:
        """Newline-delimited JSON file(s)."""
        return self._frame(self._session.read(os.fspath(path), "json"))

    def from_arrow(self, data: Any) -> DataFrame:
        """Any Arrow data with the PyCapsule interface (a pyarrow Table or RecordBatch, a polars
        DataFrame, …), without copying."""
        return self._frame(self._session.from_arrow(data))

    def from_pandas(self, df: pandas.DataFrame) -> DataFrame:
        """A pandas DataFrame, converted by pyarrow (its index is not kept)."""
        return self.from_arrow(pa.Table.from_pandas(df, preserve_index=False))

    def from_polars(self, df: polars.DataFrame) -> DataFrame:
        """A polars DataFrame, without copying."""
        return self.from_arrow(df)


_default: Session | None = None


def _session() -> Session:
    global _default
    if _default is None:
        _default = Session(os.environ.get("FASTCAUSAL_WAREHOUSE", ".fastcausal"))
    return _default


def connect(warehouse: str | os.PathLike[str] | None = None) -> Session:
    """A session over the warehouse directory ``warehouse`` (created on first write); with no
    argument, ``$FASTCAUSAL_WAREHOUSE`` or ``.fastcausal``."""
    return Session(warehouse if warehouse is not None else os.environ.get("FASTCAUSAL_WAREHOUSE", ".fastcausal"))


def sql(query: str) -> DataFrame:
    """:meth:`Session.sql` on the default session."""
    return _session().sql(query)


def table(name: str) -> DataFrame:
    """:meth:`Session.table` on the default session."""
    return _session().table(name)


def tables() -> list[str]:
    """:meth:`Session.tables` on the default session."""
    return _session().tables()


def read_parquet(path: str | os.PathLike[str]) -> DataFrame:
    """:meth:`Session.read_parquet` on the default session."""
    return _session().read_parquet(path)


def read_csv(path: str | os.PathLike[str], delimiter: str | None = None, has_header: bool | None = None) -> DataFrame:
    """:meth:`Session.read_csv` on the default session."""
    return _session().read_csv(path, delimiter, has_header)


def read_json(path: str | os.PathLike[str]) -> DataFrame:
    """:meth:`Session.read_json` on the default session."""
    return _session().read_json(path)


def from_arrow(data: Any) -> DataFrame:
    """:meth:`Session.from_arrow` on the default session."""
    return _session().from_arrow(data)


def from_pandas(df: pandas.DataFrame) -> DataFrame:
    """:meth:`Session.from_pandas` on the default session."""
    return _session().from_pandas(df)


def from_polars(df: polars.DataFrame) -> DataFrame:
    """:meth:`Session.from_polars` on the default session."""
    return _session().from_polars(df)


# FCI's spellings.
readCsv = read_csv
readParquet = read_parquet
