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

It also writes ``sql_cases``: SQL calls of ``ols``/``wls`` on FCI's 10,000-row data
(``test_data_small.csv``) with the statsmodels fit of each, in the case format of
``reference.json`` (``select``, ``group_by``, ``rows`` of ``fields``), including GROUP BY,
categorical terms, interactions, transforms and a collinear term (fitted without it by
statsmodels and reported as dropped), and one- and two-way cluster-robust errors (statsmodels'
``cov_type='cluster'``), and ``did`` (the ``treatment:t_ob`` coefficient of
``y ~ treatment * t_ob + covariates``). FCI's published ``y ~ x1 + x2 + t_ob`` coefficients are
asserted against statsmodels here.

``iv_fits`` are linearmodels' ``IV2SLS.from_formula('yiv ~ 1 + x1 + [d ~ z1 + z2]')`` with
unadjusted, robust and clustered (by g) errors: coefficients, errors, z, p, intervals, R², the
Wald test and the first stage's partial R² and F.

Run: ``python3 tests/reference/make_regression.py`` (needs numpy, pandas, statsmodels and
linearmodels).
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
    # For 2SLS: instruments z1, z2, an endogenous d (correlated with the error v) and its outcome.
    z1 = rng.normal(0, 1, n)
    z2 = rng.normal(0, 1, n)
    v = rng.normal(0, 1, n)
    d = 0.8 * z1 + 0.5 * z2 + 0.5 * v + rng.normal(0, 1, n)
    yiv = 1.0 + 2.0 * d + 0.5 * x1 + v * (1 + np.abs(x1))
    # Rounded so that the decimal text in the JSON is exactly the value fitted here.
    cols = {k: np.round(v, 6) for k, v in dict(x1=x1, x2=x2, x3=x3, w=w, y=y, z1=z1, z2=z2, d=d, yiv=yiv).items()}
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


FCI_OLS = [11.511121, 1.719414, 2.052233, 1.394370]


def sql_fields(res, cov, dropped=()):
    """The fields of fastcausal's ols/wls struct for a statsmodels result; `dropped` terms are
    inserted as all-NULL coefficient rows at their positions (name, index)."""
    ci = res.conf_int(0.05)
    rows = [{'term': t, 'estimate': res.params[t], 'std_error': res.bse[t], 't_value': res.tvalues[t],
             'p_value': res.pvalues[t], 'ci_lower': ci.loc[t, 0], 'ci_upper': ci.loc[t, 1]}
            for t in res.params.index]
    for name, index in dropped:
        rows.insert(index, {'term': name, 'estimate': None, 'std_error': None, 't_value': None,
                            'p_value': None, 'ci_lower': None, 'ci_upper': None})
    return {
        'coefficients': rows,
        'n': int(res.nobs),
        'df_model': res.df_model,
        'df_resid': res.df_resid,
        'r_squared': res.rsquared,
        'adj_r_squared': res.rsquared_adj,
        'f_statistic': float(np.squeeze(res.fvalue)),
        'f_p_value': float(np.squeeze(res.f_pvalue)),
        'residual_std_error': float(np.sqrt(res.scale)),
        'log_likelihood': res.llf,
        'aic': res.aic,
        'bic': res.bic,
        'cov_type': cov,
        'dropped': [name for name, _ in dropped],
    }


def sql_cases():
    df = pd.read_csv(os.path.join(HERE, 'test_data_small.csv'))
    cases = []

    # Cluster columns: x_cat1, treatment, and ~200 clusters from floor(x4 * 10) (the SQL side
    # computes the same expression, exactly).
    df['x4_bin'] = np.floor(df['x4'] * 10).astype(int)

    def fit(formula, cov, weights=None, data=df, cluster=None):
        kwds = {}
        if cluster is not None:
            codes = [pd.factorize(data[c], sort=True)[0] for c in cluster]
            kwds = {'cov_kwds': {'groups': codes[0] if len(codes) == 1 else np.column_stack(codes)}}
        if weights is None:
            return smf.ols(formula, data).fit(cov_type=cov, **kwds)
        return smf.wls(formula, data, weights=data[weights]).fit(cov_type=cov, **kwds)

    def add(name, select, formula, cov, weights=None, group_by=None, fit_formula=None, dropped=(), cluster=None):
        if group_by is None:
            rows = [{'fields': sql_fields(fit(fit_formula or formula, cov, weights, cluster=cluster), cov, dropped)}]
        else:
            rows = [{'group': str(g),
                     'fields': sql_fields(fit(fit_formula or formula, cov, weights, part, cluster), cov, dropped)}
                    for g, part in sorted(df.groupby(group_by), key=lambda kv: kv[0])]
        cases.append({'name': name, 'select': select, 'group_by': group_by, 'rows': rows})

    base = 'y ~ x1 + x2 + t_ob'
    res = fit(base, 'nonrobust')
    assert np.allclose(res.params.values, FCI_OLS, atol=5e-7), res.params
    add('ols classical', f"ols('{base}')", base, 'nonrobust')
    add('ols HC0', f"ols('{base}', cov => 'HC0')", base, 'HC0')
    add('ols HC1', f"ols('{base}', cov => 'HC1')", base, 'HC1')
    add('wls classical', f"wls('{base}', weight)", base, 'nonrobust', weights='weight')
    add('wls HC1', f"ols('{base}', weights => weight, cov => 'HC1')", base, 'HC1', weights='weight')
    add('ols HC1 by x_cat1', f"ols('{base}', cov => 'HC1')", base, 'HC1', group_by='x_cat1')
    rich = 'y ~ treatment + C(x_cat1) * x1 + x1:x2 + np.log(x3) + I(x4 ** 2 / 10)'
    add('ols with categorical interactions and transforms', f"ols('{rich}', cov => 'HC1')", rich, 'HC1')
    add('ols categorical without intercept', "ols('y ~ C(x_cat1) + x1 - 1')", 'y ~ C(x_cat1) + x1 - 1',
        'nonrobust')
    add('ols categorical by treatment', "ols('y ~ C(t_ob):x1 + x2')", 'y ~ C(t_ob):x1 + x2', 'nonrobust',
        group_by='treatment')
    add('ols collinear term dropped', "ols('y ~ x1 + x2 + I(x1 - 2 * x2) + x3', cov => 'HC1')",
        'y ~ x1 + x2 + I(x1 - 2 * x2) + x3', 'HC1', fit_formula='y ~ x1 + x2 + x3',
        dropped=[('I(x1 - 2 * x2)', 3)])
    add('ols clustered by x_cat1', f"ols('{base}', cluster => x_cat1)", base, 'cluster', cluster=['x_cat1'])
    add('ols clustered by 200 bins', f"ols('{base}', cluster => CAST(floor(x4 * 10) AS INT))", base, 'cluster',
        cluster=['x4_bin'])
    add('ols two-way clustered', f"ols('{base}', cluster => (x_cat1, CAST(floor(x4 * 10) AS INT)))", base,
        'cluster', cluster=['x_cat1', 'x4_bin'])
    add('wls clustered', f"wls('{base}', weight, cluster => CAST(floor(x4 * 10) AS INT))", base, 'cluster',
        weights='weight', cluster=['x4_bin'])
    add('ols categorical clustered by group', "ols('y ~ C(x_cat1) + x1', cluster => CAST(floor(x4 * 10) AS INT))",
        'y ~ C(x_cat1) + x1', 'cluster', group_by='treatment', cluster=['x4_bin'])
    # Difference in differences: the treatment:t_ob coefficient of y ~ treatment * t_ob + covariates.
    def did_fields(res, cov):
        t = 'treatment:t_ob'
        ci = res.conf_int(0.05)
        return {'estimate': res.params[t], 'std_error': res.bse[t], 't_value': res.tvalues[t],
                'p_value': res.pvalues[t], 'ci_lower': ci.loc[t, 0], 'ci_upper': ci.loc[t, 1], 'n': int(res.nobs),
                'df_resid': res.df_resid, 'r_squared': res.rsquared, 'cov_type': cov}

    def add_did(name, select, covariates, cov, cluster=None, group_by=None):
        formula = 'y ~ treatment * t_ob' + ''.join(f' + {c}' for c in covariates)
        if group_by is None:
            rows = [{'fields': did_fields(fit(formula, cov, cluster=cluster), cov)}]
        else:
            rows = [{'group': str(g), 'fields': did_fields(fit(formula, cov, data=part, cluster=cluster), cov)}
                    for g, part in sorted(df.groupby(group_by), key=lambda kv: kv[0])]
        cases.append({'name': name, 'select': select, 'group_by': group_by, 'rows': rows})

    # 2SLS as linearmodels' IV2SLS (an explicit 1 there; implicit in our formulas, as in ols).
    from linearmodels.iv import IV2SLS

    def iv_fields(res, cov):
        ci = res.conf_int(0.95)
        fs = res.first_stage.diagnostics
        stages = []
        for e in fs.index:
            stage = {'endogenous': e, 'partial_r_squared': float(fs.loc[e, 'partial.rsquared'])}
            if cov == 'unadjusted':
                stage.update({'f_statistic': float(fs.loc[e, 'f.stat']), 'f_p_value': float(fs.loc[e, 'f.pval'])})
            stages.append(stage)
        return {
            'coefficients': [{'term': t, 'estimate': res.params[t], 'std_error': res.std_errors[t],
                              't_value': res.tstats[t], 'p_value': res.pvalues[t], 'ci_lower': ci.loc[t, 'lower'],
                              'ci_upper': ci.loc[t, 'upper']} for t in res.params.index],
            'n': int(res.nobs), 'r_squared': res.rsquared, 'wald_statistic': res.f_statistic.stat,
            'wald_p_value': res.f_statistic.pval, 'cov_type': cov, 'first_stage': stages,
            # The weak-instrument flag rests on the homoskedastic first-stage F.
            **({'weak_instruments': bool(any(fs['f.stat'] < 10))} if cov == 'unadjusted' else {}),
        }

    def add_iv(name, select, formula, cov, cluster=None):
        kw = {'clusters': pd.factorize(df[cluster], sort=True)[0]} if cluster else {}
        res = IV2SLS.from_formula(formula, df).fit(cov_type=cov, **kw)
        cases.append({'name': name, 'select': select, 'group_by': None, 'rows': [{'fields': iv_fields(res, cov)}]})

    # treatment alone is a very weak instrument for t_ob here (first-stage F 0.13), so the robust
    # covariance of the fit is nearly singular and its Wald statistic is determined only to ~1e-7
    # by anyone (it moves at that level with the summation order); the robust and clustered cases
    # therefore add x3 as a second instrument (F 187).
    lm = 'y ~ 1 + x1 + x2 + [t_ob ~ treatment]'
    strong = 'y ~ 1 + x1 + x2 + [t_ob ~ treatment + x3]'
    add_iv('iv unadjusted, weak instrument', "iv('y ~ x1 + x2 + [t_ob ~ treatment]')", lm, 'unadjusted')
    add_iv('iv robust, FCI syntax', "iv('y ~ (t_ob ~ treatment + x3) + x1 + x2', cov => 'robust')", strong, 'robust')
    add_iv('iv clustered',
           "iv('y ~ x1 + x2 + [t_ob ~ treatment + x3]', cluster => CAST(floor(x4 * 10) AS INT))", strong,
           'clustered', cluster='x4_bin')
    add_iv('iv two instruments, categorical exogenous', "iv('y ~ C(x_cat1) + x1 + [t_ob ~ treatment + x3]')",
           'y ~ 1 + C(x_cat1) + x1 + [t_ob ~ treatment + x3]', 'unadjusted')

    add_did('did plain', 'did(y, treatment, t_ob)', [], 'nonrobust')
    add_did('did with covariates, clustered', 'did(y, treatment, t_ob, x1, x2, cluster => CAST(floor(x4 * 10) AS INT))',
            ['x1', 'x2'], 'cluster', cluster=['x4_bin'])
    add_did('did HC1 by x_cat1', "did(y, treatment, t_ob, x1, cov => 'HC1')", ['x1'], 'HC1', group_by='x_cat1')
    return cases


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
    from linearmodels.iv import IV2SLS
    import linearmodels
    iv_fits = []
    for cov in ['unadjusted', 'robust', 'clustered']:
        kw = {'clusters': pd.factorize(df['g'], sort=True)[0]} if cov == 'clustered' else {}
        r = IV2SLS.from_formula('yiv ~ 1 + x1 + [d ~ z1 + z2]', df).fit(cov_type=cov, **kw)
        ci = r.conf_int(0.95)
        fs = r.first_stage.diagnostics
        iv_fits.append({
            'name': f'iv {cov}', 'cov': cov, 'terms': list(r.params.index), 'params': list(r.params.values),
            'bse': list(r.std_errors.values), 'tvalues': list(r.tstats.values), 'pvalues': list(r.pvalues.values),
            'ci_lower': list(ci['lower'].values), 'ci_upper': list(ci['upper'].values),
            'rsquared': r.rsquared, 'wald': r.f_statistic.stat, 'wald_pvalue': r.f_statistic.pval,
            'first_stage_partial_rsquared': float(fs.loc['d', 'partial.rsquared']),
            'first_stage_f': float(fs.loc['d', 'f.stat']) if cov == 'unadjusted' else None,
        })
    out = {
        'generator': f'make_regression.py with numpy {np.__version__}, statsmodels {statsmodels.__version__}, '
                     f'linearmodels {linearmodels.__version__}',
        'data': {k: (list(df[k]) if k == 'g' else [float(v) for v in df[k]]) for k in df.columns},
        'fits': fits,
        'iv_fits': iv_fits,
        'sql_cases': sql_cases(),
    }
    with open(os.path.join(HERE, 'regression.json'), 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
