#!/usr/bin/env python3
"""Reference values for linear models (OLS and WLS), from statsmodels.

Draws a small data set with numpy (seeded; stored in the JSON so the Rust tests read the same
numbers) and fits, with ``statsmodels.formula.api``:

* ``y ~ x1 + x2 + x3`` by OLS with ``cov_type`` nonrobust, HC0 and HC1; x3 has mean 1000 and
  standard deviation 1, so the normal equations are badly conditioned unless centred;
* the same by WLS with weights ``w`` (nonrobust, HC0, HC1);
* ``y ~ x1 + x2 - 1`` (no intercept) by OLS, nonrobust and HC1;
* ``y ~ x1 + C(g)`` by OLS, nonrobust and HC1 (g has levels a, b, c; treatment coding, a the
  reference), which the tests fit from one moment state per level.

For each fit it stores params, bse, tvalues, pvalues, conf_int (alpha 0.05), rsquared,
rsquared_adj, fvalue, f_pvalue, llf, aic, bic, df_model, df_resid and sqrt(scale), under the
term names statsmodels gives. Writes ``regression.json`` next to this script.

Run: ``python3 tests/reference/make_regression.py`` (needs numpy, pandas and statsmodels).
"""

import json
import os

import numpy as np
import pandas as pd
import statsmodels
import statsmodels.formula.api as smf

HERE = os.path.dirname(os.path.abspath(__file__))


def data(n=400, seed=7):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, n)
    x2 = rng.normal(0, 2, n)
    x3 = 1000 + rng.normal(0, 1, n)
    g = rng.choice(['a', 'b', 'c'], n)
    w = rng.uniform(0.2, 2.0, n)
    # Heteroskedastic noise, so robust and classical errors differ.
    y = 1.5 + 2.0 * x1 - 0.5 * x2 + 0.3 * (x3 - 1000) + np.where(g == 'b', 1.0, 0.0) + rng.normal(0, 1 + np.abs(x1), n)
    # Rounded so that the decimal text in the JSON is exactly the value fitted here.
    cols = {k: np.round(v, 6) for k, v in dict(x1=x1, x2=x2, x3=x3, w=w, y=y).items()}
    cols['g'] = g
    return pd.DataFrame(cols)


def summary(res):
    ci = res.conf_int(0.05)
    return {
        'terms': list(res.params.index),
        'params': list(res.params.values),
        'bse': list(res.bse.values),
        'tvalues': list(res.tvalues.values),
        'pvalues': list(res.pvalues.values),
        'ci_lower': list(ci[0].values),
        'ci_upper': list(ci[1].values),
        'rsquared': res.rsquared,
        'rsquared_adj': res.rsquared_adj,
        'fvalue': float(np.squeeze(res.fvalue)),
        'f_pvalue': float(np.squeeze(res.f_pvalue)),
        'llf': res.llf,
        'aic': res.aic,
        'bic': res.bic,
        'df_model': res.df_model,
        'df_resid': res.df_resid,
        'residual_std_error': float(np.sqrt(res.scale)),
    }


def main():
    df = data()
    fits = []
    for cov in ['nonrobust', 'HC0', 'HC1']:
        fits.append({'name': f'ols {cov}', 'formula': 'y ~ x1 + x2 + x3', 'weights': False, 'cov': cov,
                     **summary(smf.ols('y ~ x1 + x2 + x3', df).fit(cov_type=cov))})
        fits.append({'name': f'wls {cov}', 'formula': 'y ~ x1 + x2 + x3', 'weights': True, 'cov': cov,
                     **summary(smf.wls('y ~ x1 + x2 + x3', df, weights=df['w']).fit(cov_type=cov))})
    for cov in ['nonrobust', 'HC1']:
        fits.append({'name': f'no intercept {cov}', 'formula': 'y ~ x1 + x2 - 1', 'weights': False, 'cov': cov,
                     **summary(smf.ols('y ~ x1 + x2 - 1', df).fit(cov_type=cov))})
        fits.append({'name': f'categorical {cov}', 'formula': 'y ~ x1 + C(g)', 'weights': False, 'cov': cov,
                     **summary(smf.ols('y ~ x1 + C(g)', df).fit(cov_type=cov))})
    out = {
        'generator': f'make_regression.py with numpy {np.__version__}, statsmodels {statsmodels.__version__}',
        'data': {k: (list(df[k]) if k == 'g' else [float(v) for v in df[k]]) for k in df.columns},
        'fits': fits,
    }
    with open(os.path.join(HERE, 'regression.json'), 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
