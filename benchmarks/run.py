#!/usr/bin/env python3
"""fastcausal against the engines a user would pick instead, on the same Parquet files.

Every measurement is one fresh process, as a user would run it: the `fastcausal` binary on the
file, or a Python process that imports DuckDB or chdb (ClickHouse) and runs the same statistic
(the peers compute moments, counts or ranks in SQL and finish in Python with scipy), or, for
regressions, numpy (normal equations), statsmodels or linearmodels on the columns read with
pyarrow. Times are
wall-clock medians of several runs; for the peers the clock starts after `import` (their
in-notebook cost), for fastcausal it covers the whole process. Peak memory is each process's
maximum resident set.

    pip install duckdb chdb pyarrow numpy scipy statsmodels linearmodels
    python3 benchmarks/run.py                 # 1M and 10M rows, 5 runs each
    python3 benchmarks/run.py --rows 1000000 --runs 3
    python3 benchmarks/run.py --rows 10000000 --runs 1 --peers duckdb --tasks SRM 'Mann-Whitney U'

Each task names the output columns it compares (`fields`): fastcausal's JSON rows (struct results
are flattened to columns by the CLI) are reduced to those columns in that order, and every peer
produces the same values in the same order. Numbers must agree to 1e-9 relative, strings exactly.

Writes docs/benchmarks.md and benchmarks/results/latest.json.
"""

import argparse
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, 'benchmarks', 'data')
BIN = os.path.join(ROOT, 'target', 'release', 'fastcausal')

# Each task: fastcausal SQL, the output columns to compare (`fields`, in order; fastcausal's struct
# results are flattened to columns by the CLI), and for each peer a Python snippet that sets
# `result` to rows of exactly those values in that order. `{path}` is the Parquet file. The peers
# compute moments, counts or ranks in SQL and finish in Python with the helpers in FINISH.
TTEST_FIELDS = ['n0', 'n1', 'mean0', 'mean1', 'estimate', 'stderr', 't_statistic', 'df', 'p_value']
CUPED_COLUMNS = ['numerator', 'denominator', 'numerator_pre', 'denominator_pre', 'x1']

TASKS = {
    # Not a statistic: the floor under the ratio t-test — only reading and summing the three
    # columns it uses. Whatever a statistic adds is the difference from this row.
    'read floor: sum of the ratio test columns': {
        'fastcausal': "SELECT sum(numerator) AS a, sum(denominator) AS b, sum(treatment) AS c FROM '{path}'",
        'fields': ['a', 'b', 'c'],
        'duckdb': """
rows = duckdb.sql("SELECT sum(numerator), sum(denominator), sum(treatment) FROM read_parquet('{path}')").fetchall()
result = [[float(v) for v in r] for r in rows]
""",
        'chdb': """
rows = chdb.query("SELECT sum(numerator), sum(denominator), sum(treatment) FROM file('{path}', Parquet)", 'JSONCompact').data()
result = [[float(v) for v in r] for r in json.loads(rows)['data']]
""",
    },
    'per-arm count, mean, variance': {
        'fastcausal': "SELECT treatment, count(*) AS n, avg(numerator) AS mean, var_samp(numerator) AS var "
                      "FROM '{path}' GROUP BY treatment ORDER BY treatment",
        'fields': ['treatment', 'n', 'mean', 'var'],
        'duckdb': """
rows = duckdb.sql("SELECT treatment, count(*), avg(numerator), var_samp(numerator) FROM read_parquet('{path}') GROUP BY treatment ORDER BY treatment").fetchall()
result = [[float(v) for v in r] for r in rows]
""",
        'chdb': """
rows = chdb.query("SELECT treatment, count(), avg(numerator), varSamp(numerator) FROM file('{path}', Parquet) GROUP BY treatment ORDER BY treatment", 'JSONCompact').data()
result = [[float(v) for v in r] for r in json.loads(rows)['data']]
""",
    },
    'per-arm delta-method ratio std error': {
        'fastcausal': "SELECT treatment, deltamethod(avg(numerator) / avg(denominator)) AS se "
                      "FROM '{path}' GROUP BY treatment ORDER BY treatment",
        'fields': ['treatment', 'se'],
        'duckdb': """
rows = duckdb.sql("SELECT treatment, count(*), avg(numerator), avg(denominator), var_samp(numerator), var_samp(denominator), covar_samp(numerator, denominator) FROM read_parquet('{path}') GROUP BY treatment ORDER BY treatment").fetchall()
result = [[float(t), delta(*map(float, r))] for t, *r in rows]
""",
        'chdb': """
rows = chdb.query("SELECT treatment, count(), avg(numerator), avg(denominator), varSamp(numerator), varSamp(denominator), covarSamp(numerator, denominator) FROM file('{path}', Parquet) GROUP BY treatment ORDER BY treatment", 'JSONCompact').data()
result = [[float(t), delta(*map(float, r))] for t, *r in json.loads(rows)['data']]
""",
    },
    # Delta-method Welch t-test of a ratio metric: per arm n, means, variances and the covariance
    # of numerator and denominator in one GROUP BY. DuckDB: from n, sums and sums of products
    # (up to 1.8× faster than its covar_samp; the cancellation in Σxy − ΣxΣy/n costs ≤ 1e-13
    # relative on this data, whose means are within a few standard deviations of 0 — metrics with
    # mean ≫ sd would need covar_samp). ClickHouse: covarSamp is faster than sums there.
    'ratio t-test': {
        'fastcausal': "SELECT ttest_2samp(avg(numerator)/avg(denominator), treatment) AS r FROM '{path}'",
        'fields': TTEST_FIELDS,
        'duckdb': """
rows = duckdb.sql("SELECT count(*), sum(numerator), sum(denominator), sum(numerator * numerator), sum(denominator * denominator), sum(numerator * denominator) FROM read_parquet('{path}') GROUP BY treatment ORDER BY treatment").fetchall()
result = [ratio_ttest(from_sums(rows[0], 2, RATIO_PAIRS), from_sums(rows[1], 2, RATIO_PAIRS))]
""",
        'chdb': """
rows = json.loads(chdb.query("SELECT count(), avg(numerator), avg(denominator), varSamp(numerator), varSamp(denominator), covarSamp(numerator, denominator) FROM file('{path}', Parquet) GROUP BY treatment ORDER BY treatment", 'JSONCompact').data())['data']
result = [ratio_ttest(rows[0], rows[1])]
""",
    },
    # CUPED with covariates avg(numerator_pre)/avg(denominator_pre) and avg(x1): per arm n, the five
    # means and the 5×5 covariance in one GROUP BY; the pooled moments (for θ) merged in Python.
    'ratio t-test, CUPED (ratio + x1)': {
        'fastcausal': "SELECT ttest_2samp(avg(numerator)/avg(denominator), treatment, "
                      "cuped => avg(numerator_pre)/avg(denominator_pre) + avg(x1)) AS r FROM '{path}'",
        'fields': TTEST_FIELDS,
        'duckdb': """
sql = ('SELECT count(*), ' + ', '.join('sum(%s)' % c for c in CUPED_COLUMNS) + ', '
       + ', '.join('sum(%s * %s)' % p for p in upper_pairs(CUPED_COLUMNS))
       + " FROM read_parquet('{path}') GROUP BY treatment ORDER BY treatment")
rows = duckdb.sql(sql).fetchall()
pairs = upper_pairs(range(5))
result = [cuped_ratio_ttest(arm_moments(from_sums(rows[0], 5, pairs), 5), arm_moments(from_sums(rows[1], 5, pairs), 5))]
""",
        'chdb': """
sql = ('SELECT count(), ' + ', '.join('avg(%s)' % c for c in CUPED_COLUMNS) + ', '
       + ', '.join('covarSamp(%s, %s)' % p for p in upper_pairs(CUPED_COLUMNS))
       + " FROM file('{path}', Parquet) GROUP BY treatment ORDER BY treatment")
rows = json.loads(chdb.query(sql, 'JSONCompact').data())['data']
result = [cuped_ratio_ttest(arm_moments(rows[0], 5), arm_moments(rows[1], 5))]
""",
    },
    'ratio t-test by x_cat1': {
        'fastcausal': "SELECT x_cat1, ttest_2samp(avg(numerator)/avg(denominator), treatment) AS r "
                      "FROM '{path}' GROUP BY x_cat1 ORDER BY x_cat1",
        'fields': ['x_cat1'] + TTEST_FIELDS,
        'duckdb': """
rows = duckdb.sql("SELECT x_cat1, count(*), sum(numerator), sum(denominator), sum(numerator * numerator), sum(denominator * denominator), sum(numerator * denominator) FROM read_parquet('{path}') GROUP BY x_cat1, treatment ORDER BY x_cat1, treatment").fetchall()
result = [[g] + ratio_ttest(from_sums(a0, 2, RATIO_PAIRS), from_sums(a1, 2, RATIO_PAIRS)) for g, a0, a1 in arm_pairs(rows)]
""",
        'chdb': """
rows = json.loads(chdb.query("SELECT x_cat1, count(), avg(numerator), avg(denominator), varSamp(numerator), varSamp(denominator), covarSamp(numerator, denominator) FROM file('{path}', Parquet) GROUP BY x_cat1, treatment ORDER BY x_cat1, treatment", 'JSONCompact').data())['data']
result = [[g] + ratio_ttest(a0, a1) for g, a0, a1 in arm_pairs(rows)]
""",
    },
    # Sample-ratio mismatch: rows per arm against an equal split (Pearson chi-square).
    'SRM': {
        'fastcausal': "SELECT srm(1, treatment) AS r FROM '{path}'",
        'fields': ['chi_square', 'p_value'],
        'duckdb': """
rows = duckdb.sql("SELECT count(*) FROM read_parquet('{path}') GROUP BY treatment ORDER BY treatment").fetchall()
result = [srm([c for (c,) in rows])]
""",
        'chdb': """
rows = json.loads(chdb.query("SELECT count() FROM file('{path}', Parquet) GROUP BY treatment ORDER BY treatment", 'JSONCompact').data())['data']
result = [srm([c for (c,) in rows])]
""",
    },
    # Mann-Whitney U (scipy's asymptotic two-sided test with tie and continuity corrections), from
    # the column sorted once (GROUP BY value + a running sum is slower: almost every value is
    # distinct). DuckDB: each row's lowest rank (rank()) and highest (count() over its peer group):
    # average rank (lo + hi)/2, tie size t = hi − lo + 1, Σ(t³ − t) = Σ over rows (t² − 1).
    # ClickHouse (arrays were 1.1-1.5× faster than its window functions here, for ~1.6× the memory):
    # the arm flags sorted by value, running count of treatment rows, and per tie group (ends
    # where the next value differs; -0.0 = 0.0, unlike its GROUP BY) c rows, c1 of them treated,
    # ending at position e: 2·R1 += c1·(2(e − c) + c + 1).
    'Mann-Whitney U': {
        'fastcausal': "SELECT mann_whitney_utest(numerator, treatment) AS r FROM '{path}'",
        'fields': ['u0', 'u1', 'z', 'p_value'],
        'duckdb': """
rows = duckdb.sql('''
SELECT count(*) FILTER (WHERE treatment = 0), count(*) FILTER (WHERE treatment = 1),
       sum(lo + hi) FILTER (WHERE treatment = 1), sum((hi - lo + 1) * (hi - lo + 1) - 1)
FROM (SELECT treatment, rank() OVER w AS lo, count(*) OVER w AS hi
      FROM read_parquet('{path}') WINDOW w AS (ORDER BY numerator))''').fetchall()
result = [mann_whitney(*rows[0])]
""",
        'chdb': """
rows = json.loads(chdb.query('''
WITH arrayFilter((i, v, vn) -> v != vn, arrayEnumerate(vs), vs, arrayPushBack(arrayPopFront(vs), nan)) AS ends,
     arrayMap(i -> toInt64(cum1[i]), ends) AS k1,
     arrayConcat([ends[1]], arrayPopFront(arrayDifference(ends))) AS c,
     arrayConcat([k1[1]], arrayPopFront(arrayDifference(k1))) AS c1
SELECT n0, n1, arraySum((a, b, e) -> a * (2 * (e - b) + b + 1), c1, c, ends), arraySum(b -> toFloat64(b) * b * b - b, c)
FROM (SELECT arraySort(groupArray(numerator)) AS vs,
             arrayCumSum(arraySort((t, v) -> v, groupArray(treatment = 1), groupArray(numerator))) AS cum1,
             countIf(treatment = 0) AS n0, countIf(treatment = 1) AS n1
      FROM file('{path}', Parquet))''', 'JSONCompact').data())['data']
result = [mann_whitney(*rows[0])]
""",
    },
    # Two-sample Kolmogorov-Smirnov D = max |F1 − F0| over the values, p from scipy's asymptotic
    # law (kstwo at round(n0·n1/(n0 + n1))). DuckDB: running counts over the column sorted once
    # (the default RANGE frame ends after the current value's ties, so F is evaluated after each
    # tie group; `count(*) FILTER (...) OVER w` instead of sum(flag) runs for ages in DuckDB 2.0).
    # ClickHouse: its built-in kolmogorovSmirnovTest, which a ClickHouse user would call (~4× faster
    # than sorting in SQL). Its D is a running sum of ±1/n (≈1e-10 relative off at 10M rows) and it
    # treats values closer than 1e-7 as ties; its own asymptotic p differs from scipy's, so p is
    # recomputed here.
    'Kolmogorov-Smirnov': {
        'fastcausal': "SELECT ks_2samp(y, treatment) AS r FROM '{path}'",
        'fields': ['d', 'p_value'],
        'duckdb': """
rows = duckdb.sql('''
SELECT max(abs(k1 / n1 - (k - k1) / n0)), any_value(n0), any_value(n1)
FROM (SELECT sum((treatment = 1)::INTEGER) OVER w AS k1, count(*) OVER w AS k FROM read_parquet('{path}') WINDOW w AS (ORDER BY y)),
     (SELECT count(*) FILTER (WHERE treatment = 0) AS n0, count(*) FILTER (WHERE treatment = 1) AS n1 FROM read_parquet('{path}'))''').fetchall()
result = [ks(*rows[0])]
""",
        'chdb': """
rows = json.loads(chdb.query("SELECT kolmogorovSmirnovTest('two-sided', 'asymp')(y, treatment).1, countIf(treatment = 0), countIf(treatment = 1) FROM file('{path}', Parquet)", 'JSONCompact').data())['data']
result = [ks(*rows[0])]
""",
    },
    # Regression: OLS with 4 regressors and HC1 errors, and WLS. Compared: each coefficient's
    # estimate and standard error. numpy reads the columns with pyarrow and solves the normal
    # equations (HC1 from the residuals); statsmodels fits sm.OLS/WLS on the same arrays; the SQL
    # engines sum X'X and X'y in one query, solve in numpy, and (HC1) sum e² x xᵀ in a second.
    'OLS, 4 regressors, HC1': {
        'fastcausal': "SELECT c['estimate'] AS estimate, c['std_error'] AS std_error FROM "
                      "(SELECT unnest(ols('y ~ x1 + x2 + x3 + x4', cov => 'HC1')['coefficients']) AS c FROM '{path}')",
        'fields': ['estimate', 'std_error'],
        'numpy': """
X, y, w = design_arrays('{path}', OLS_X, 'y')
result = numpy_ls(X, y, None, 'HC1')
""",
        'statsmodels': """
X, y, w = design_arrays('{path}', OLS_X, 'y')
fit = sm.OLS(y, X).fit(cov_type='HC1')
result = [[float(b), float(s)] for b, s in zip(fit.params, fit.bse)]
""",
        'duckdb': """
result = sql_ls(lambda q: duckdb.sql(q).fetchall(), "read_parquet('{path}')", OLS_X, 'y', None, 'HC1')
""",
        'chdb': """
result = sql_ls(lambda q: json.loads(chdb.query(q, 'JSONCompact').data())['data'], "file('{path}', Parquet)", OLS_X, 'y', None, 'HC1')
""",
    },
    'WLS, 4 regressors': {
        'fastcausal': "SELECT c['estimate'] AS estimate, c['std_error'] AS std_error FROM "
                      "(SELECT unnest(wls('y ~ x1 + x2 + x3 + x4', weight)['coefficients']) AS c FROM '{path}')",
        'fields': ['estimate', 'std_error'],
        'numpy': """
X, y, w = design_arrays('{path}', OLS_X, 'y', 'weight')
result = numpy_ls(X, y, w, 'classical')
""",
        'statsmodels': """
X, y, w = design_arrays('{path}', OLS_X, 'y', 'weight')
fit = sm.WLS(y, X, weights=w).fit()
result = [[float(b), float(s)] for b, s in zip(fit.params, fit.bse)]
""",
        'duckdb': """
result = sql_ls(lambda q: duckdb.sql(q).fetchall(), "read_parquet('{path}')", OLS_X, 'y', 'weight', 'classical')
""",
        'chdb': """
result = sql_ls(lambda q: json.loads(chdb.query(q, 'JSONCompact').data())['data'], "file('{path}', Parquet)", OLS_X, 'y', 'weight', 'classical')
""",
    },
    # 2SLS: y on x1, x2 and t_ob, instrumented by treatment and x3, robust errors. numpy and
    # linearmodels read the columns with pyarrow; the SQL engines sum the cross-products of
    # (1, x1, x2, t_ob, treatment, x3, y), solve in numpy, and sum e² z zᵀ in a second query.
    '2SLS, robust': {
        'fastcausal': "SELECT c['estimate'] AS estimate, c['std_error'] AS std_error FROM "
                      "(SELECT unnest(iv('y ~ x1 + x2 + [t_ob ~ treatment + x3]', cov => 'robust')['coefficients']) AS c "
                      "FROM '{path}')",
        'fields': ['estimate', 'std_error'],
        'numpy': """
result = numpy_iv('{path}')
""",
        'linearmodels': """
X, y, Z = iv_arrays('{path}')
fit = IV2SLS(y, X[:, :3], X[:, 3:], Z[:, 3:]).fit(cov_type='robust')
result = [[float(b), float(s)] for b, s in zip(fit.params, fit.std_errors)]
""",
        'duckdb': """
result = sql_iv(lambda q: duckdb.sql(q).fetchall(), "read_parquet('{path}')")
""",
        'chdb': """
result = sql_iv(lambda q: json.loads(chdb.query(q, 'JSONCompact').data())['data'], "file('{path}', Parquet)")
""",
    },
    # Logistic regression with 7 regressors: the exact MLE by Newton's method from β = 0, errors from
    # the inverse Hessian. numpy iterates IRLS on the columns read with pyarrow; statsmodels fits
    # sm.Logit (Newton, its default tolerance); the SQL engines run the same loop with one query per
    # step (Σ p(1−p) x xᵀ and Σ (y − p) x at the current β), solved in numpy.
    'logistic, 7 regressors': {
        'fastcausal': "SELECT c['estimate'] AS estimate, c['std_error'] AS std_error FROM "
                      "(SELECT unnest(logistic('t_ob ~ x1 + x2 + x3 + x4 + x5 + weight + treatment')['coefficients']) AS c "
                      "FROM '{path}')",
        'fields': ['estimate', 'std_error'],
        'numpy': """
X, y, w = design_arrays('{path}', LOGIT_X, 't_ob')
result = numpy_logit(X, y)
""",
        'statsmodels': """
X, y, w = design_arrays('{path}', LOGIT_X, 't_ob')
fit = sm.Logit(y, X).fit(disp=0)
result = [[float(b), float(s)] for b, s in zip(fit.params, fit.bse)]
""",
        'duckdb': """
result = sql_logit(lambda q: duckdb.sql(q).fetchall(), "read_parquet('{path}')")
""",
        'chdb': """
result = sql_logit(lambda q: json.loads(chdb.query(q, 'JSONCompact').data())['data'], "file('{path}', Parquet)")
""",
    },
}

PEER_PRELUDE = {
    'duckdb': "import duckdb\nduckdb.execute('SET enable_progress_bar = false')",
    'chdb': 'import chdb',
    'numpy': 'import numpy as np\nimport pyarrow.parquet as pq',
    'statsmodels': 'import numpy as np\nimport pyarrow.parquet as pq\nimport statsmodels.api as sm',
    'linearmodels': 'import numpy as np\nimport pyarrow.parquet as pq\nfrom linearmodels.iv import IV2SLS',
}

# Python the peers finish with (defined before the clock starts, like the imports).
DELTA = """
def delta(n, mx, my, vxx, vyy, vxy):
    gx, gy = 1 / my, -mx / my ** 2
    return ((gx * gx * vxx + 2 * gx * gy * vxy + gy * gy * vyy) / n) ** 0.5
"""

# Helpers that need numpy and scipy; imported (before the clock) only by tasks that use them.
FINISH = """
import math
import numpy as np
from scipy import stats

CUPED_COLUMNS = %r


OLS_X = ['x1', 'x2', 'x3', 'x4']


def design_arrays(path, xs, y, weight=None):
    # The design (with an intercept), the response and the weights as float64 numpy arrays.
    import pyarrow.parquet as pq
    t = pq.read_table(path, columns=xs + [y] + ([weight] if weight else []))
    n = t.num_rows
    X = np.empty((n, len(xs) + 1))
    X[:, 0] = 1.0
    for j, c in enumerate(xs):
        X[:, j + 1] = t.column(c).to_numpy()
    return X, t.column(y).to_numpy(), (t.column(weight).to_numpy() if weight else None)


def symmetric(packed, k):
    # The k × k symmetric matrix from its upper triangle, row by row.
    m = np.zeros((k, k))
    m[np.triu_indices(k)] = packed[:k * (k + 1) // 2]
    return m + np.triu(m, 1).T


def ls_errors(xtx, beta, n, meat, ssr, cov):
    # Standard errors from X'WX, classical (σ² (X'WX)⁻¹) or HC1 (sandwich × n/(n − k)).
    k = len(beta)
    inv = np.linalg.inv(xtx)
    if cov == 'HC1':
        v = inv @ meat @ inv * n / (n - k)
    else:
        v = inv * ssr / (n - k)
    return [[float(b), float(s)] for b, s in zip(beta, np.sqrt(np.diag(v)))]


def numpy_ls(X, y, w, cov):
    # Normal equations in numpy; HC1 from the residuals.
    Xw = X if w is None else X * w[:, None]
    xtx = X.T @ Xw
    beta = np.linalg.solve(xtx, Xw.T @ y)
    e = y - X @ beta
    ssr = float(e @ e) if w is None else float((w * e) @ e)
    meat = None
    if cov == 'HC1':
        Xe = X * e[:, None]
        meat = Xe.T @ Xe
    return ls_errors(xtx, beta, len(y), meat, ssr, cov)


def sql_ls(query, source, xs, y, weight, cov):
    # X'WX, X'Wy, y'Wy and n summed in one SQL query, solved in numpy; HC1's Σ e² x xᵀ in a second.
    cols = ['1'] + xs
    w = f'{weight} * ' if weight else ''
    terms = [f'sum({w}{a} * {b})' for i, a in enumerate(cols) for b in cols[i:]]
    terms += [f'sum({w}{a} * {y})' for a in cols] + [f'sum({w}{y} * {y})', 'count(*)']
    row = [float(v) for v in query(f"SELECT {', '.join(terms)} FROM {source}")[0]]
    k = len(cols)
    xtx = symmetric(row, k)
    at = k * (k + 1) // 2
    xty = np.array(row[at:at + k])
    yty, n = row[at + k], row[at + k + 1]
    beta = np.linalg.solve(xtx, xty)
    ssr = yty - 2 * beta @ xty + beta @ xtx @ beta
    meat = None
    if cov == 'HC1':
        e = f"({y} - ({' + '.join(f'{float(b)!r} * {c}' for b, c in zip(beta, cols))}))"
        mterms = [f'sum({e} * {e} * {a} * {b})' for i, a in enumerate(cols) for b in cols[i:]]
        mrow = [float(v) for v in query(f"SELECT {', '.join(mterms)} FROM {source}")[0]]
        meat = symmetric(mrow, k)
    return ls_errors(xtx, beta, n, meat, ssr, cov)


IV_X = ['x1', 'x2', 't_ob']
IV_Z = ['x1', 'x2', 'treatment', 'x3']


def iv_arrays(path):
    # X = (1, x1, x2, t_ob), y, Z = (1, x1, x2, treatment, x3) as float64 arrays.
    import pyarrow.parquet as pq
    t = pq.read_table(path, columns=['x1', 'x2', 't_ob', 'treatment', 'x3', 'y'])
    n = t.num_rows
    col = lambda c: t.column(c).to_numpy().astype(float)
    X = np.column_stack([np.ones(n)] + [col(c) for c in IV_X])
    Z = np.column_stack([np.ones(n)] + [col(c) for c in IV_Z])
    return X, col('y'), Z


def iv_solve(zz, zx, zy, n):
    # Π = (Z'Z)⁻¹ Z'X, X̂'X̂ = Π' Z'X, β = (X̂'X̂)⁻¹ Π' Z'y.
    pi = np.linalg.solve(zz, zx)
    a = pi.T @ zx
    return pi, a, np.linalg.solve(a, pi.T @ zy)


def iv_errors(a, pi, meat_z):
    # Robust: (X̂'X̂)⁻¹ Π' (Σ e² z zᵀ) Π (X̂'X̂)⁻¹.
    inv = np.linalg.inv(a)
    return inv @ (pi.T @ meat_z @ pi) @ inv


def numpy_iv(path):
    X, y, Z = iv_arrays(path)
    pi, a, beta = iv_solve(Z.T @ Z, Z.T @ X, Z.T @ y, len(y))
    e = y - X @ beta
    Ze = Z * e[:, None]
    v = iv_errors(a, pi, Ze.T @ Ze)
    return [[float(b), float(s)] for b, s in zip(beta, np.sqrt(np.diag(v)))]


def sql_iv(query, source):
    cols = ['1', 'x1', 'x2', 't_ob', 'treatment', 'x3', 'y']
    terms = [f'sum({a} * {b})' for i, a in enumerate(cols) for b in cols[i:]] + ['count(*)']
    row = [float(v) for v in query(f"SELECT {', '.join(terms)} FROM {source}")[0]]
    k = len(cols)
    s = symmetric(row, k)
    n = row[k * (k + 1) // 2]
    xi, zi, yi = [0, 1, 2, 3], [0, 1, 2, 4, 5], 6
    pi, a, beta = iv_solve(s[np.ix_(zi, zi)], s[np.ix_(zi, xi)], s[zi, yi], n)
    e = f"(y - ({' + '.join(f'{float(b)!r} * {cols[c]}' for b, c in zip(beta, xi))}))"
    zc = [cols[c] for c in zi]
    mterms = [f'sum({e} * {e} * {a} * {b})' for i, a in enumerate(zc) for b in zc[i:]]
    mrow = [float(v) for v in query(f"SELECT {', '.join(mterms)} FROM {source}")[0]]
    v = iv_errors(a, pi, symmetric(mrow, len(zc)))
    return [[float(b), float(s)] for b, s in zip(beta, np.sqrt(np.diag(v)))]



LOGIT_X = ['x1', 'x2', 'x3', 'x4', 'x5', 'weight', 'treatment']


def newton_logit(pass_at, k):
    # Newton's method from β = 0: pass_at(β) gives H = Σ p(1−p) x xᵀ and g = Σ (y − p) x; stops
    # when the step is below 1e-10 relative; errors from H⁻¹ at the final β.
    beta = np.zeros(k)
    for _ in range(100):
        h, g = pass_at(beta)
        step = np.linalg.solve(h, g)
        beta = beta + step
        if np.max(np.abs(step) / np.maximum(np.abs(beta), 1.0)) < 1e-10:
            break
    h, _ = pass_at(beta)
    return [[float(b), float(s)] for b, s in zip(beta, np.sqrt(np.diag(np.linalg.inv(h))))]


def numpy_logit(X, y):
    def pass_at(beta):
        p = 1.0 / (1.0 + np.exp(-(X @ beta)))
        return (X * (p * (1 - p))[:, None]).T @ X, X.T @ (y - p)
    return newton_logit(pass_at, X.shape[1])


def sql_logit(query, source):
    cols = ['1'] + LOGIT_X
    k = len(cols)

    def pass_at(beta):
        eta = ' + '.join(f'{float(b)!r} * {c}' for b, c in zip(beta, cols))
        inner = f"SELECT *, 1.0 / (1.0 + exp(-({eta}))) AS p FROM {source}"
        terms = [f'sum(p * (1 - p) * {a} * {b})' for i, a in enumerate(cols) for b in cols[i:]]
        terms += [f'sum((t_ob - p) * {a})' for a in cols]
        row = [float(v) for v in query(f"SELECT {', '.join(terms)} FROM ({inner})")[0]]
        return symmetric(row, k), np.array(row[k * (k + 1) // 2:])
    return newton_logit(pass_at, k)

def welch(n0, n1, mean0, mean1, v0, v1):
    # The t-test fields from per-arm n, means and variances of the means (Welch df, Student t).
    est = mean1 - mean0
    se = math.sqrt(v0 + v1)
    t = est / se
    df = (v0 + v1) ** 2 / (v0 ** 2 / (n0 - 1) + v1 ** 2 / (n1 - 1))
    return [float(n0), float(n1), mean0, mean1, est, se, t, df, float(2 * stats.t.sf(abs(t), df))]


def ratio_var(n, mx, my, vxx, vyy, vxy):
    # Delta method: Var(mean x / mean y) = grad' Cov grad / n.
    gx, gy = 1 / my, -mx / my ** 2
    return (gx * gx * vxx + 2 * gx * gy * vxy + gy * gy * vyy) / n


def ratio_ttest(arm0, arm1):
    # arm = (n, mean num, mean den, var num, var den, cov num den), control first.
    a0, a1 = [[float(v) for v in a] for a in (arm0, arm1)]
    return welch(a0[0], a1[0], a0[1] / a0[2], a1[1] / a1[2], ratio_var(*a0), ratio_var(*a1))


def arm_pairs(rows):
    # (group, control arm moments, treatment arm moments) from rows (group, moments...) sorted by
    # group, then arm.
    assert len(rows) %% 2 == 0 and all(rows[i][0] == rows[i + 1][0] for i in range(0, len(rows), 2))
    return [(rows[i][0], rows[i][1:], rows[i + 1][1:]) for i in range(0, len(rows), 2)]


def upper_pairs(cols):
    cols = list(cols)
    return [(a, b) for i, a in enumerate(cols) for b in cols[i:]]


RATIO_PAIRS = [(0, 0), (1, 1), (0, 1)]   # num·num, den·den, num·den: the order ratio_ttest takes


def from_sums(row, k, pairs):
    # [n, k sums, sums of products of the column pairs] -> [n, k means, their sample covariances].
    n = float(row[0])
    s = [float(v) for v in row[1:1 + k]]
    covs = [(float(q) - s[i] * s[j] / n) / (n - 1) for q, (i, j) in zip(row[1 + k:], pairs)]
    return [n] + [v / n for v in s] + covs


def arm_moments(row, k):
    # (n, means, covariance) from [n, k means, the k(k+1)/2 covariances of upper_pairs].
    row = [float(v) for v in row]
    cov = np.zeros((k, k))
    cov[np.triu_indices(k)] = row[1 + k:]
    cov = cov + np.triu(cov, 1).T
    return row[0], np.array(row[1:1 + k]), cov


def cuped_ratio_ttest(arm0, arm1):
    # Metric g = avg(numerator)/avg(denominator); covariates h1 = avg(numerator_pre)/avg(denominator_pre),
    # h2 = avg(x1) (column order CUPED_COLUMNS). theta from the pooled sample, whose means and
    # covariance are merged from the arms' (Chan et al.); means adjusted by theta·(h_arm − h_pooled).
    (na, ma, ca), (nb, mb, cb) = arm0, arm1
    n = na + nb
    mp = (na * ma + nb * mb) / n
    d = mb - ma
    cp = ((na - 1) * ca + (nb - 1) * cb + np.outer(d, d) * na * nb / n) / (n - 1)

    def value(m):
        return m[0] / m[1], np.array([m[2] / m[3], m[4]])

    def grads(m):
        g = np.array([1 / m[1], -m[0] / m[1] ** 2, 0, 0, 0])
        h = np.array([[0, 0, 1 / m[3], -m[2] / m[3] ** 2, 0], [0, 0, 0, 0, 1.0]])
        return g, h

    gp, hp = grads(mp)
    theta = np.linalg.solve(hp @ cp @ hp.T, hp @ cp @ gp)
    h_pooled = value(mp)[1]
    means, variances = [], []
    for n_a, m_a, c_a in (arm0, arm1):
        g_a, h_a = value(m_a)
        dg, dh = grads(m_a)
        means.append(float(g_a - theta @ (h_a - h_pooled)))
        v = dg @ c_a @ dg - 2 * theta @ (dh @ c_a @ dg) + theta @ (dh @ c_a @ dh.T) @ theta
        variances.append(float(v / n_a))
    return welch(na, nb, means[0], means[1], variances[0], variances[1])


def srm(counts):
    chi2, p = stats.chisquare([float(c) for c in counts])
    return [float(chi2), float(p)]


def mann_whitney(n0, n1, rank_sum1_x2, ties):
    # scipy.stats.mannwhitneyu(treatment, control), asymptotic, two-sided, continuity-corrected:
    # U1 = R1 − n1(n1+1)/2 (R1 = rank sum of the treatment rows, given doubled, exact integer),
    # z = (max(U0, U1) − n0·n1/2 − 1/2) / s, s² = n0·n1/12·((N + 1) − Σ(t³ − t)/(N(N − 1))).
    n0, n1 = int(n0), int(n1)
    n = n0 + n1
    u1 = (int(rank_sum1_x2) - n1 * (n1 + 1)) / 2
    u0 = n0 * n1 - u1
    s = math.sqrt(n0 * n1 / 12 * ((n + 1) - float(ties) / (n * (n - 1))))
    z = (max(u0, u1) - n0 * n1 / 2 - 0.5) / s
    return [float(u0), float(u1), z, min(1.0, float(2 * stats.norm.sf(z)))]


def ks(d, n0, n1):
    # scipy.stats.ks_2samp two-sided, asymptotic: p = kstwo.sf(D, round(n0·n1/(n0 + n1))).
    d, n0, n1 = float(d), float(n0), float(n1)
    return [d, float(np.clip(stats.kstwo.sf(d, np.round(n0 * n1 / (n0 + n1))), 0, 1))]
""" % (CUPED_COLUMNS,)


def run_process(cmd):
    """Runs cmd; returns (stdout, wall seconds, peak RSS in MiB)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    wall = time.perf_counter() - start
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {err.decode()[-2000:]}")
    return out.decode(), wall, err.decode()


def timed(cmd):
    """Runs cmd under /usr/bin/time; returns (stdout, wall s, peak MiB, stderr-without-time)."""
    out, wall, err = run_process(['/usr/bin/time', '-f', '__PEAK_KB__=%M'] + cmd)
    peak_kb = 0
    rest = []
    for line in err.splitlines():
        if line.startswith('__PEAK_KB__='):
            peak_kb = int(line.split('=')[1])
        else:
            rest.append(line)
    return out, wall, peak_kb / 1024, '\n'.join(rest)


def value(v):
    """A compared value: numbers (and numeric strings) as floats, NULL as NaN, other strings as is."""
    if v is None:
        return float('nan')
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return float(v)


def run_fastcausal(sql, fields):
    """Runs the CLI; returns each row's `fields` (flattened output columns), in that order."""
    out, wall, peak, _ = timed([BIN, 'sql', sql, '--format', 'json'])
    rows = json.loads(out)
    # The JSON writer leaves out NULL values, so a column is missing only if absent from every row.
    present = set().union(*(r.keys() for r in rows)) if rows else set()
    missing = [f for f in fields if f not in present]
    if rows and missing:
        raise RuntimeError(f'fastcausal output has no column(s) {missing}; it has {sorted(present)}')
    return [[value(r.get(f)) for f in fields] for r in rows], wall, peak


FINISH_NAMES = re.findall(r'^(?:def )?(\w+)(?:\(| = )', FINISH, re.M)


def peer_program(peer, snippet):
    """The Python program a peer runs: imports and helpers, then the timed snippet."""
    needs_finish = re.search(r'\b(%s)\b' % '|'.join(FINISH_NAMES), snippet) is not None
    return '\n'.join([
        'import json, sys, time',
        PEER_PRELUDE[peer],
        DELTA.strip(),
        FINISH.strip() if needs_finish else '',
        't0 = time.perf_counter()',
        snippet.strip(),
        'elapsed = time.perf_counter() - t0',
        "print(json.dumps({'result': result, 'seconds': elapsed}))",
        '',
    ])


def run_peer(peer, snippet):
    out, _wall, peak, _ = timed([sys.executable, '-c', peer_program(peer, snippet)])
    doc = json.loads(out.strip().splitlines()[-1])
    return [[value(v) for v in r] for r in doc['result']], doc['seconds'], peak


def same(u, v, rel):
    if isinstance(u, str) or isinstance(v, str):
        return u == v
    if math.isnan(u) or math.isnan(v):
        return math.isnan(u) and math.isnan(v)
    return abs(u - v) <= rel * max(abs(u), abs(v), 1e-300)


def close(a, b, rel=1e-9):
    return len(a) == len(b) and all(
        len(x) == len(y) and all(same(u, v, rel) for u, v in zip(x, y)) for x, y in zip(a, b))


def ensure_data(rows):
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, f'data_{rows}.parquet')
    if not os.path.exists(path):
        print(f'generating {path}', flush=True)
        subprocess.run([BIN, 'gen-data', '--rows', str(rows), '--seed', '0', '--out', path], check=True)
    return path


def machine():
    cpu = 'unknown CPU'
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2 ** 30
    return f'{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}'


def versions():
    v = {}
    for mod in ('duckdb', 'chdb', 'numpy', 'statsmodels', 'linearmodels'):
        try:
            m = __import__(mod)
            v[mod] = getattr(m, '__version__', '?')
        except ImportError:
            v[mod] = None
    v['fastcausal'] = subprocess.run([BIN, '--version'], capture_output=True, text=True).stdout.strip()
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rows', type=int, nargs='*', default=[1_000_000, 10_000_000])
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--tasks', nargs='*', default=list(TASKS), choices=list(TASKS), metavar='TASK',
                    help='tasks to run (default: all): ' + ', '.join(repr(t) for t in TASKS))
    ap.add_argument('--peers', nargs='*', default=list(PEER_PRELUDE), choices=list(PEER_PRELUDE),
                    help='peers to run (default: all installed)')
    ap.add_argument('--no-build', action='store_true')
    ap.add_argument('--no-python', action='store_true',
                    help='skip the Python API section (run by default when `import fastcausal` works)')
    args = ap.parse_args()

    if not args.no_build:
        subprocess.run(['cargo', 'build', '--release', '-p', 'fastcausal-cli'], cwd=ROOT, check=True)
    ver = versions()
    peers = [p for p in args.peers if ver.get(p)]
    missing = [p for p in args.peers if not ver.get(p)]
    if missing:
        print(f'warning: not installed, skipped: {missing} (pip install duckdb chdb)', file=sys.stderr)

    results = []
    for rows in args.rows:
        path = ensure_data(rows)
        for task in args.tasks:
            spec = TASKS[task]
            entry = {'task': task, 'rows': rows, 'engines': {}}
            sql = spec['fastcausal'].format(path=path)
            reference = None
            for engine in ['fastcausal'] + [p for p in peers if p in spec]:
                times, peaks = [], []
                # One untimed run first: on this VM the page cache is often trimmed while the
                # previous engine runs (a peer may take gigabytes), so the first read of the
                # file would measure the disk, not the engine.
                for run in range(args.runs + 1):
                    if engine == 'fastcausal':
                        res, secs, peak = run_fastcausal(sql, spec['fields'])
                    else:
                        res, secs, peak = run_peer(engine, spec[engine].format(path=path))
                    if run > 0:
                        times.append(secs)
                        peaks.append(peak)
                if reference is None:
                    reference = res
                agree = close(res, reference)
                entry['engines'][engine] = {
                    'median_s': statistics.median(times), 'times_s': times,
                    'peak_mib': max(peaks), 'agrees_with_fastcausal': agree,
                }
                print(f'{rows:>10} {task:<40} {engine:<10} {statistics.median(times):8.3f} s '
                      f'{max(peaks):8.0f} MiB{"" if agree else "  RESULTS DIFFER"}', flush=True)
            ran = [p for p in peers if p in entry['engines']]
            best_peer = min((entry['engines'][p]['median_s'], p) for p in ran) if ran else (None, None)
            entry['best_peer'] = best_peer[1]
            entry['ratio_to_best_peer'] = (entry['engines']['fastcausal']['median_s'] / best_peer[0]) if ran else None
            results.append(entry)

    python_section, python_results = '', None
    has_python = subprocess.run([sys.executable, '-c', 'import fastcausal'], capture_output=True).returncode == 0
    if not args.no_python and has_python:
        import python_api
        rows = max(args.rows)
        api, interop = python_api.measure(ensure_data(rows), args.runs, args.tasks)
        python_section, python_results = python_api.markdown(rows, api, interop), {'api': api, 'interop': interop}
    elif not args.no_python:
        print('warning: `import fastcausal` fails (pip install .); the Python API section is skipped', file=sys.stderr)

    os.makedirs(os.path.join(ROOT, 'benchmarks', 'results'), exist_ok=True)
    with open(os.path.join(ROOT, 'benchmarks', 'results', 'latest.json'), 'w') as f:
        json.dump({'machine': machine(), 'versions': ver, 'runs': args.runs, 'results': results,
                   'python': python_results}, f, indent=1)
    write_markdown(results, peers, ver, args, python_section)


def write_markdown(results, peers, ver, args, python_section=''):
    cmd = 'python3 benchmarks/run.py' + ('' if args.rows == [1_000_000, 10_000_000] else ' --rows ' + ' '.join(map(str, args.rows))) \
        + ('' if args.runs == 5 else f' --runs {args.runs}') \
        + ('' if args.tasks == list(TASKS) else ' --tasks ' + ' '.join(repr(t) for t in args.tasks)) \
        + ('' if args.peers == list(PEER_PRELUDE) else ' --peers ' + ' '.join(args.peers))
    lines = [
        '# Benchmarks', '',
        'Generated by `benchmarks/run.py`; do not edit by hand.', '',
        f'- Machine: {machine()}',
        f'- Command: `{cmd}`',
        f'- Versions: ' + ', '.join(f'{k} {v}' for k, v in ver.items() if v),
        f'- Date: {time.strftime("%Y-%m-%d")}',
        f'- Method: median of {args.runs} fresh processes per engine, after one untimed warm-up run; fastcausal timed as the whole '
        '`fastcausal sql` process on the Parquet file, peers from after `import` to the finished '
        'statistic (moments, counts or ranks in SQL, finished in Python with scipy; for regressions '
        'numpy, statsmodels and linearmodels also read the columns with pyarrow and fit in memory). Peak memory is '
        'the process maximum RSS (for the peers including numpy and scipy where a task finishes with '
        'them). Results are checked to agree with fastcausal to 1e-9 relative.', '',
    ]
    header = '| task | rows | fastcausal | ' + ' | '.join(peers) + ' | ratio to fastest peer | peak MiB (fastcausal / ' + ' / '.join(peers) + ') |'
    lines += [header, '|' + '---|' * (header.count('|') - 1)]
    for e in results:
        eng = e['engines']
        cells = [e['task'], f"{e['rows']:,}", f"{eng['fastcausal']['median_s']:.3f} s"]
        cells += [(f"{eng[p]['median_s']:.3f} s" + ('' if eng[p]['agrees_with_fastcausal'] else ' (differs!)'))
                  if p in eng else '—' for p in peers]
        cells.append(f"{e['ratio_to_best_peer']:.2f}× ({e['best_peer']})" if e['ratio_to_best_peer'] else '')
        cells.append(' / '.join(f"{eng[k]['peak_mib']:.0f}" if k in eng else '—' for k in ['fastcausal'] + peers))
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', 'A ratio below 1 means fastcausal is faster than the fastest peer.', python_section]
    with open(os.path.join(ROOT, 'docs', 'benchmarks.md'), 'w') as f:
        f.write('\n'.join(lines))
    print('wrote docs/benchmarks.md')


if __name__ == '__main__':
    main()
