#!/usr/bin/env python3
"""Reference values for penalised regression, from scikit-learn.

On FCI's 10,000-row data (``test_data_small.csv``) it fits SQL cases of ``ridge``, ``lasso`` and
``elastic_net`` with scikit-learn's ``Ridge``, ``Lasso`` and ``ElasticNet`` (``fit_intercept=True``,
coordinate descent run to ``tol=1e-15``, so the reference is the minimiser itself): plain,
standardised (``StandardScaler`` before the model, coefficients mapped back to the original
scale), with categorical dummies (patsy's design without its intercept column), GROUP BY, and
cross-validated over scikit-learn's lambda grid (``_alpha_grid``: 100 values down to
``λ_max / 1000``) with fastcausal's hashed folds — each row's fold is the splitmix64 hash of the
bits of its input values (the response, then the formula's value columns), reproduced here with
numpy, and each fold's error is scikit-learn's fit on the other folds. For each case it stores, in
the case format of ``reference.json``, the coefficients, the lambda, the objective, R², the number
of non-zero coefficients and, when cross-validated, the path (mean squared error and its standard
error per lambda), ``lambda_min`` and ``lambda_1se``.

Writes ``penalized.json`` next to this script. Run: ``python3 tests/reference/make_penalized.py``
(needs numpy, pandas, patsy and scikit-learn).
"""

import json
import os
import warnings

import numpy as np
import pandas as pd
import patsy
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso, Ridge
from sklearn.linear_model._coordinate_descent import _alpha_grid

HERE = os.path.dirname(os.path.abspath(__file__))
warnings.simplefilter('ignore', ConvergenceWarning)
M64 = (1 << 64) - 1


def mix(z):
    z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)) & np.uint64(M64)
    z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)) & np.uint64(M64)
    return z ^ (z >> np.uint64(31))


def folds(columns, k):
    """fastcausal's fold of each row: splitmix64 over the bits of its values, in column order."""
    h = np.full(len(columns[0]), 0x9e3779b97f4a7c15, dtype=np.uint64)
    with np.errstate(over='ignore'):
        for c in columns:
            c = np.where(c == 0.0, 0.0, c).astype(np.float64)
            h = mix(h ^ c.view(np.uint64))
    return (h % np.uint64(k)).astype(int)


def model(kind, lam, l1_ratio):
    if kind == 'ridge':
        return Ridge(alpha=lam, fit_intercept=True, solver='cholesky')
    if kind == 'lasso':
        return Lasso(alpha=lam, fit_intercept=True, tol=1e-15, max_iter=1_000_000)
    return ElasticNet(alpha=lam, l1_ratio=l1_ratio, fit_intercept=True, tol=1e-15, max_iter=1_000_000)


def fit(kind, X, y, lam, l1_ratio, standardize):
    scale = X.std(axis=0) if standardize else np.ones(X.shape[1])
    scale[scale == 0] = 1.0
    m = model(kind, lam, l1_ratio).fit(X / scale, y)
    w = m.coef_ / scale
    b = y.mean() - X.mean(axis=0) @ w
    return w, b


def objective(kind, X, y, w, b, lam, l1_ratio):
    sse = float(np.sum((y - b - X @ w) ** 2))
    if kind == 'ridge':
        return sse + lam * float(w @ w)
    return sse / (2 * len(y)) + lam * l1_ratio * float(np.abs(w).sum()) + 0.5 * lam * (1 - l1_ratio) * float(w @ w)


def fields(kind, formula, data, lam, l1_ratio, standardize, k):
    y, X = patsy.dmatrices(formula, data, return_type='dataframe')
    terms = list(X.columns)
    X = X.drop(columns=['Intercept']).to_numpy()
    y = y.to_numpy()[:, 0]
    out = {'path': []}
    if lam is None:
        # The columns fastcausal's state reads, in order: the response, then the formula's values.
        values = [data[c].to_numpy(float) for c in VALUE_COLUMNS[formula]]
        fold = folds(values, k)
        scale = X.std(axis=0) if standardize else np.ones(X.shape[1])
        grid = _alpha_grid(X / scale, y, l1_ratio=l1_ratio, fit_intercept=True, eps=1e-3, n_alphas=100)
        errors = np.zeros((len(grid), k))
        for f in range(k):
            train, test = fold != f, fold == f
            for i, a in enumerate(grid):
                w, b = fit(kind, X[train], y[train], a, l1_ratio, standardize)
                errors[i, f] = np.mean((y[test] - b - X[test] @ w) ** 2)
        mean = errors.mean(axis=1)
        se = errors.std(axis=1, ddof=1) / np.sqrt(k)
        for a, m_, s_ in zip(grid, mean, se):
            w, _ = fit(kind, X, y, a, l1_ratio, standardize)
            out['path'].append({'lambda': float(a), 'mean_squared_error': float(m_), 'std_error': float(s_),
                                'nonzero': int(np.count_nonzero(w))})
        best = int(np.argmin(mean))
        lam = float(grid[best])
        out['lambda_min'] = lam
        out['lambda_1se'] = float(max(a for a, m_ in zip(grid, mean) if m_ <= mean[best] + se[best]))
    w, b = fit(kind, X, y, lam, l1_ratio, standardize)
    resid = y - b - X @ w
    coefficients = [{'term': 'Intercept', 'estimate': float(b), 'std_error': None}] + [
        {'term': t, 'estimate': float(v), 'std_error': None} for t, v in zip(terms[1:], w)]
    out.update({
        'coefficients': coefficients,
        'n': len(y),
        'lambda': lam,
        'l1_ratio': l1_ratio,
        'standardized': standardize,
        'objective': objective(kind, X, y, w, b, lam, l1_ratio),
        'r_squared': 1 - float(resid @ resid) / float(((y - y.mean()) ** 2).sum()),
        'nonzero': int(np.count_nonzero(w)),
    })
    return out


BASE = 'y ~ x1 + x2 + x3 + x4 + x5'
VALUE_COLUMNS = {BASE: ['y', 'x1', 'x2', 'x3', 'x4', 'x5']}


def sql_cases():
    df = pd.read_csv(os.path.join(HERE, 'test_data_small.csv'))
    cases = []

    def add(name, select, kind, formula, lam, l1_ratio=1.0, standardize=False, group_by=None, k=5):
        if group_by is None:
            rows = [{'fields': fields(kind, formula, df, lam, l1_ratio, standardize, k)}]
        else:
            rows = [{'group': str(g), 'fields': fields(kind, formula, part, lam, l1_ratio, standardize, k)}
                    for g, part in sorted(df.groupby(group_by), key=lambda kv: kv[0])]
        cases.append({'name': name, 'select': select, 'group_by': group_by, 'rows': rows})

    add('lasso', f"lasso('{BASE}', lambda => 0.1)", 'lasso', BASE, 0.1)
    add('lasso zeroes some terms', f"lasso('{BASE}', 0.8)", 'lasso', BASE, 0.8)
    add('elastic net', f"elastic_net('{BASE}', lambda => 0.2, l1_ratio => 0.3)", 'enet', BASE, 0.2, 0.3)
    add('ridge', f"ridge('{BASE}', lambda => 500)", 'ridge', BASE, 500.0, 0.0)
    add('lasso standardised', f"lasso('{BASE}', lambda => 0.05, standardize => true)", 'lasso', BASE, 0.05,
        standardize=True)
    cat = 'y ~ C(x_cat1) + x1 + x2'
    add('lasso with categorical terms', f"lasso('{cat}', lambda => 0.05)", 'lasso', cat, 0.05)
    add('lasso by treatment', f"lasso('{BASE}', lambda => 0.1)", 'lasso', BASE, 0.1, group_by='treatment')
    add('lasso cross-validated', f"lasso('{BASE}')", 'lasso', BASE, None)
    add('elastic net cross-validated, standardised', f"elastic_net('{BASE}', l1_ratio => 0.5, standardize => true)",
        'enet', BASE, None, 0.5, standardize=True)
    return cases


def main():
    out = {
        'generator': f'make_penalized.py with numpy {np.__version__}, scikit-learn {sklearn.__version__}',
        'sql_cases': sql_cases(),
    }
    with open(os.path.join(HERE, 'penalized.json'), 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
