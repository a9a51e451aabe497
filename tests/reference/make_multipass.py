#!/usr/bin/env python3
"""Reference values for the statistics fitted in several passes over the data: logistic
regression, from statsmodels' ``Logit`` (and scikit-learn's ``roc_auc_score`` for the AUC), and
least squares with HC2/HC3 errors, from statsmodels' ``OLS``/``WLS``.

On FCI's 10,000-row data (``test_data_small.csv``) it fits SQL cases of ``logistic(...)`` with
``statsmodels.formula.api.logit`` by Newton's method run to machine precision
(``tol=1e-15``, so the reference is the maximum itself, not statsmodels' default stopping point):
classical, robust (statsmodels' ``HC0``) and one- and two-way cluster-robust errors
(``cov_type='cluster'``), GROUP BY, categorical terms and interactions, a WHERE clause, seven
regressors, no intercept, and a collinear term (fitted without it by statsmodels and reported as
dropped). For each fit it stores, in the case format of ``reference.json`` (``select``,
``group_by``, ``rows`` of ``fields``), the coefficient rows (params, bse, z, p, conf_int at
alpha 0.05), nobs, df_model, df_resid, llf, llnull, prsquared, llr, llr_pvalue, aic, bic and the
AUC of the fitted linear predictor.

``ols_cases`` are ``ols``/``wls`` calls with ``cov => 'HC2'`` and ``'HC3'`` (plain, weighted,
categorical, GROUP BY, a dropped collinear term) with the statsmodels fit of each, in the same
format and with the fields of ``make_regression.py``.

Writes ``multipass.json`` next to this script. Run: ``python3 tests/reference/make_multipass.py``
(needs numpy, pandas, statsmodels and scikit-learn).
"""

import json
import os

import numpy as np
import pandas as pd
import sklearn
import statsmodels
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats
from sklearn.metrics import roc_auc_score

HERE = os.path.dirname(os.path.abspath(__file__))


def fields(res, cov, dropped=()):
    """fastcausal's logistic struct for a statsmodels result; `dropped` terms are inserted as
    all-NULL coefficient rows at their positions (name, index).

    statsmodels' own ``llnull`` comes from a derivative-free optimiser and is off by ~1e-10
    relative, which the likelihood-ratio statistic (a difference of two large numbers) magnifies
    to ~1e-7; the null model is therefore refitted here by Newton's method to machine precision
    (``Logit(y, 1)``), and ``llr``, ``llr_pvalue`` and ``prsquared`` are computed from it with
    statsmodels' formulas and degrees of freedom (``df_model`` = rank − 1, with or without a
    constant, as statsmodels counts it)."""
    ci = res.conf_int(0.05)
    rows = [{'term': t, 'estimate': res.params[t], 'std_error': res.bse[t], 't_value': res.tvalues[t],
             'p_value': res.pvalues[t], 'ci_lower': ci.loc[t, 0], 'ci_upper': ci.loc[t, 1]}
            for t in res.params.index]
    for name, index in dropped:
        rows.insert(index, {'term': name, 'estimate': None, 'std_error': None, 't_value': None,
                            'p_value': None, 'ci_lower': None, 'ci_upper': None})
    assert res.mle_retvals['converged']
    null = sm.Logit(res.model.endog, np.ones(int(res.nobs))).fit(method='newton', tol=1e-15, maxiter=100, disp=0)
    assert abs(null.llf - res.llnull) <= 1e-8 * abs(null.llf), (null.llf, res.llnull)
    llr = 2 * (res.llf - null.llf)
    return {
        'coefficients': rows,
        'n': int(res.nobs),
        'df_model': res.df_model,
        'df_resid': res.df_resid,
        'log_likelihood': res.llf,
        'll_null': null.llf,
        'pseudo_r_squared': 1 - res.llf / null.llf,
        'llr': llr,
        'llr_p_value': stats.chi2.sf(llr, res.df_model),
        'aic': res.aic,
        'bic': res.bic,
        'auc': roc_auc_score(res.model.endog, res.fittedvalues),
        'cov_type': cov,
        'converged': True,
        'dropped': [name for name, _ in dropped],
    }


def sql_cases():
    df = pd.read_csv(os.path.join(HERE, 'test_data_small.csv'))
    # ~200 clusters from floor(x4 * 10); the SQL side computes the same expression, exactly.
    df['x4_bin'] = np.floor(df['x4'] * 10).astype(int)
    cases = []

    def fit(formula, cov, data, cluster=None):
        kwds = {}
        if cluster is not None:
            codes = [pd.factorize(data[c], sort=True)[0] for c in cluster]
            kwds = {'cov_kwds': {'groups': codes[0] if len(codes) == 1 else np.column_stack(codes)}}
        return smf.logit(formula, data).fit(method='newton', tol=1e-15, maxiter=100, disp=0, cov_type=cov, **kwds)

    def add(name, select, formula, cov, group_by=None, where=None, fit_formula=None, dropped=(), cluster=None):
        select = select[:-1] + ', auc => true)'  # the AUC is computed on request
        data = df.query(where) if where else df
        if group_by is None:
            rows = [{'fields': fields(fit(fit_formula or formula, cov, data, cluster), cov, dropped)}]
        else:
            rows = [{'group': str(g), 'fields': fields(fit(fit_formula or formula, cov, part, cluster), cov, dropped)}
                    for g, part in sorted(data.groupby(group_by), key=lambda kv: kv[0])]
        case = {'name': name, 'select': select, 'group_by': group_by, 'rows': rows}
        if where:
            case['where'] = where
        cases.append(case)

    base = 't_ob ~ x1 + x2 + x3'
    add('logistic classical', f"logistic('{base}')", base, 'nonrobust')
    add('logistic HC0', f"logistic('{base}', cov => 'HC0')", base, 'HC0')
    add('logistic clustered by x_cat1', f"logistic('{base}', cluster => x_cat1)", base, 'cluster', cluster=['x_cat1'])
    add('logistic clustered by 200 bins', f"logistic('{base}', cluster => CAST(floor(x4 * 10) AS INT))", base,
        'cluster', cluster=['x4_bin'])
    add('logistic two-way clustered', f"logistic('{base}', cluster => (x_cat1, CAST(floor(x4 * 10) AS INT)))", base,
        'cluster', cluster=['x_cat1', 'x4_bin'])
    add('logistic by x_cat1', f"logistic('{base}', cov => 'HC0')", base, 'HC0', group_by='x_cat1')
    seven = 't_ob ~ x1 + x2 + x3 + x4 + x5 + weight + treatment'
    add('logistic seven regressors', f"logistic('{seven}')", seven, 'nonrobust')
    rich = 't_ob ~ C(x_cat1) + x1 + C(x_cat1):x2 + np.log(x3)'
    add('logistic categorical interactions', f"logistic('{rich}', cov => 'HC0')", rich, 'HC0')
    add('logistic categorical only', "logistic('t_ob ~ C(x_cat1)')", 't_ob ~ C(x_cat1)', 'nonrobust')
    add('logistic without intercept', "logistic('t_ob ~ x1 + x2 - 1')", 't_ob ~ x1 + x2 - 1', 'nonrobust')
    add('logistic with where', f"logistic('{base}')", base, 'nonrobust', where='x5 > 1')
    add('logistic categorical by treatment, clustered', "logistic('t_ob ~ C(x_cat1) + x1', cluster => CAST(floor(x4 * 10) AS INT))",
        't_ob ~ C(x_cat1) + x1', 'cluster', group_by='treatment', cluster=['x4_bin'])
    add('logistic collinear term dropped', "logistic('t_ob ~ x1 + x2 + I(x1 - 2 * x2) + x3')",
        't_ob ~ x1 + x2 + I(x1 - 2 * x2) + x3', 'nonrobust', fit_formula='t_ob ~ x1 + x2 + x3',
        dropped=[('I(x1 - 2 * x2)', 3)])
    return cases


def ols_cases():
    from make_regression import sql_fields
    df = pd.read_csv(os.path.join(HERE, 'test_data_small.csv'))
    cases = []

    def fit(formula, cov, data, weights=None):
        if weights is None:
            return smf.ols(formula, data).fit(cov_type=cov)
        return smf.wls(formula, data, weights=data[weights]).fit(cov_type=cov)

    def add(name, select, formula, cov, weights=None, group_by=None, fit_formula=None, dropped=()):
        if group_by is None:
            rows = [{'fields': sql_fields(fit(fit_formula or formula, cov, df, weights), cov, dropped)}]
        else:
            rows = [{'group': str(g), 'fields': sql_fields(fit(fit_formula or formula, cov, part, weights), cov, dropped)}
                    for g, part in sorted(df.groupby(group_by), key=lambda kv: kv[0])]
        cases.append({'name': name, 'select': select, 'group_by': group_by, 'rows': rows})

    base = 'y ~ x1 + x2 + t_ob'
    for cov in ['HC2', 'HC3']:
        add(f'ols {cov}', f"ols('{base}', cov => '{cov}')", base, cov)
        add(f'wls {cov}', f"wls('{base}', weight, cov => '{cov}')", base, cov, weights='weight')
        add(f'ols {cov} by x_cat1', f"ols('{base}', cov => '{cov}')", base, cov, group_by='x_cat1')
    rich = 'y ~ treatment + C(x_cat1) * x1 + np.log(x3)'
    add('ols HC3 with categorical interactions', f"ols('{rich}', cov => 'HC3')", rich, 'HC3')
    add('ols HC2 collinear term dropped', "ols('y ~ x1 + x2 + I(x1 - 2 * x2) + x3', cov => 'HC2')",
        'y ~ x1 + x2 + I(x1 - 2 * x2) + x3', 'HC2', fit_formula='y ~ x1 + x2 + x3', dropped=[('I(x1 - 2 * x2)', 3)])
    return cases


def predict_cases():
    """Stored models applied to new rows: each case fits a model on part of the data (the SQL in
    `create`), predicts other rows (`select`, ordered by x1) and lists, per row, statsmodels'
    ``get_prediction(...).summary_frame(alpha=0.05)`` (mean, mean_se, mean_ci, obs_ci) for least
    squares, and for logistic regression the fitted probability with the normal interval of the
    linear predictor mapped through the logistic function (computed here from statsmodels' params
    and cov_params)."""
    import patsy
    df = pd.read_csv(os.path.join(HERE, 'test_data_small.csv'))
    train = df[df.treatment == 0]
    new = df[(df.treatment == 1) & (df.x5 < 0.25)].sort_values('x1')
    cases = []

    def linear(name, create, res, model_sql):
        frame = res.get_prediction(new).summary_frame(alpha=0.05)
        rows = [{'prediction': r.mean, 'linear_predictor': r.mean, 'std_error': r.mean_se, 'ci_lower': r.mean_ci_lower,
                 'ci_upper': r.mean_ci_upper, 'pi_lower': r.obs_ci_lower, 'pi_upper': r.obs_ci_upper}
                for r in frame.itertuples()]
        cases.append({'name': name, 'create': create, 'model': model_sql, 'rows': rows})

    f = 'y ~ x1 + x2 + C(x_cat1) + np.log(x3)'
    linear('ols', f"CREATE MODEL m AS SELECT ols('{f}') FROM '{{path}}' WHERE treatment = 0",
           smf.ols(f, train).fit(), 'm')
    linear('wls HC1', f"CREATE MODEL w AS SELECT wls('{f}', weight, cov => 'HC1') FROM '{{path}}' WHERE treatment = 0",
           smf.wls(f, train, weights=train['weight']).fit(cov_type='HC1'), 'w')
    g = 't_ob ~ x1 + x2 + C(x_cat1) + x3'
    res = smf.logit(g, train).fit(method='newton', tol=1e-15, maxiter=100, disp=0)
    info = patsy.dmatrices(g, train, return_type='dataframe')[1].design_info
    X = np.asarray(patsy.build_design_matrices([info], new)[0])
    assert list(info.column_names) == list(res.params.index)
    eta = X @ res.params.values
    se = np.sqrt(np.einsum('ij,jk,ik->i', X, res.cov_params().values, X))
    z = stats.norm.isf(0.025)
    expit = lambda v: 1 / (1 + np.exp(-v))
    rows = [{'prediction': expit(e), 'linear_predictor': e, 'std_error': s_, 'ci_lower': expit(e - z * s_),
             'ci_upper': expit(e + z * s_), 'pi_lower': None, 'pi_upper': None} for e, s_ in zip(eta, se)]
    cases.append({'name': 'logistic', 'create': f"CREATE MODEL lg AS SELECT logistic('{g}') FROM '{{path}}' WHERE treatment = 0",
                  'model': 'lg', 'rows': rows})
    return cases


def main():
    out = {
        'generator': f'make_multipass.py with numpy {np.__version__}, statsmodels {statsmodels.__version__}, '
                     f'scikit-learn {sklearn.__version__}',
        'sql_cases': sql_cases(),
        'ols_cases': ols_cases(),
        'predict_cases': predict_cases(),
    }
    with open(os.path.join(HERE, 'multipass.json'), 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
