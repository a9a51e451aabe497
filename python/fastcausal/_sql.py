"""Writing SQL for the engine: quoted names, literals and statistic calls.

Every DataFrame operation and statistic is SQL over a frame's view, so that Python reaches the
very functions SQL does. Column arguments are SQL expressions as written (``"treatment"``,
``"avg(numerator) / avg(denominator)"``); option values are literals.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

Expr = str


def ident(name: str) -> str:
    """A column or table name quoted for SQL (case and any character kept)."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A Python value as a SQL literal: text quoted, numbers and booleans as they are, lists as
    arrays, ``None`` as NULL."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} cannot be passed to SQL; use a finite number")
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise TypeError(f"cannot pass a {type(value).__name__} to SQL: use a number, a string, a bool or a list")


def columns(value: Expr | Sequence[Expr]) -> str:
    """One expression, or several as a parenthesised tuple (``cluster=("firm", "year")``)."""
    if isinstance(value, str):
        return value
    items = list(value)
    if not items:
        raise ValueError("an empty list of columns")
    return items[0] if len(items) == 1 else "(" + ", ".join(items) + ")"


def call(
    name: str,
    args: Iterable[str],
    options: Mapping[str, Any] | None = None,
    expressions: Mapping[str, Expr | Sequence[Expr] | None] | None = None,
) -> str:
    """``name(arg, …, option => literal, …, option => expression, …)``, leaving out options that
    are ``None``."""
    parts = list(args)
    for key, value in (options or {}).items():
        if value is not None:
            parts.append(f"{key} => {literal(value)}")
    for key, value in (expressions or {}).items():
        if value is not None:
            parts.append(f"{key} => {columns(value)}")
    return f"{name}({', '.join(parts)})"
