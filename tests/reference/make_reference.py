#!/usr/bin/env python3
"""Regenerate fastcausal's reference data and reference values.

1. FCI's ``test_data_small``: 10,000 rows drawn with numpy's legacy generator after
   ``np.random.seed(0)``, with the exact calls, order and column order of FCI's demo notebook
   (examples/demo.ipynb of Tencent/fast-causal-inference). Written to ``test_data_small.csv``
   with every float in its shortest round-trip form, so a reader gets numpy's exact doubles.
2. Reference values computed independently of fastcausal — with numpy only for the delta
   method (the textbook formula, written out below), and scipy / statsmodels / linearmodels for
   the statistics that have library implementations — written to ``reference.json``. Its key
   ``tests`` holds the experiment-analysis SQL functions (ttest_2samp, ttest_1samp, ttests_2samp,
   srm, mann_whitney_utest, ks_2samp, student_ttest, welch_ttest, mean_z_test, mde, sample_size):
   one entry per case with the SQL to run and the expected fields, and FCI's published values
   (docs/fci-reference.md) where there are some.

Tests read the two files; running the tests needs no Python. Run this script after changing
it (needs numpy, scipy and statsmodels; values were produced with numpy 2.4, scipy 1.17.1,
statsmodels 0.15):

    python3 tests/reference/make_reference.py
"""

import csv
import json
import math
import os
import warnings

import numpy as np
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.multitest import multipletests

HERE = os.path.dirname(os.path.abspath(__file__))


def fci_test_data_small(n=10000):
    """FCI's generator, verbatim in its draws (pandas left out)."""
    np.random.seed(0)
    x1 = np.random.normal(0, 1, n)
    x2 = np.random.normal(0, 2, n)
    x3 = np.random.exponential(1, n)
    x4 = np.random.exponential(2, n)
    x5 = np.random.uniform(0, 5, n)
    weight = np.random.uniform(0, 1, n)
    x_long_tail1 = np.random.pareto(3, n)
    x_long_tail2 = np.random.pareto(2, n)
    x_cat1 = np.random.choice(['A', 'B', 'C', 'D', 'E'], n)
    treatment = np.random.choice([0, 1], n)
    y_pre = x1 + 2 * x2 + 3 * x3 + 3 * np.log(x_long_tail2 + 1) + np.random.normal(0, 1, n)
    y = y_pre + 5 * treatment + treatment * (x1 + x2 ** 2 + np.log(x4 + 1) + (x_long_tail1 > 1)) * 2 \
        + np.random.normal(0, 2, n)
    y[x_cat1 == 'A'] += 3
    y[x_cat1 == 'B'] -= 2
    numerator_pre = y_pre
    numerator = y
    denominator_pre = x1 + 2 * x5 + 3 * np.log(x_long_tail1 + 1) + np.random.normal(0, 1, n)
    denominator = denominator_pre + 2 * treatment + treatment * (x1) * 2 + np.random.normal(0, 2, n)
    linear_combination_t = 1 * x1 + 0.2 * x2 + 0.5 * x3 + 0.1 * np.random.normal(0, 1, n)
    prob_t = 1 / (1 + np.exp(-linear_combination_t))
    t_ob = np.random.binomial(1, prob_t)
    linear_combination_y = 0.5 * x1 - 0.25 * x2 + 0.1 * x3 + 0.5 * t_ob + 0.1 * np.random.normal(0, 1, n)
    y_ob = linear_combination_y + np.random.normal(0, 1, n)
    return {
        'x1': x1, 'x2': x2, 'x3': x3, 'x4': x4, 'x5': x5,
        'x_long_tail1': x_long_tail1, 'x_long_tail2': x_long_tail2, 'x_cat1': x_cat1,
        'treatment': treatment, 't_ob': t_ob, 'y': y, 'y_ob': y_ob,
        'numerator_pre': numerator_pre, 'numerator': numerator,
        'denominator_pre': denominator_pre, 'denominator': denominator, 'weight': weight,
    }


def write_csv(data, path):
    names = list(data)
    with open(path, 'w', newline='') as f:
        w = csv.writer(f, lineterminator='\n')
        w.writerow(names)
        for i in range(len(data['x1'])):
            row = []
            for name in names:
                v = data[name][i]
                if isinstance(v, (np.floating, float)):
                    row.append(repr(float(v)))
                elif isinstance(v, (np.integer, int)):
                    row.append(str(int(v)))
                else:
                    row.append(str(v))
            w.writerow(row)


def delta_method(columns, g, grad):
    """Var(g(x̄)) = ∇gᵀ Σ̂ ∇g / n with Σ̂ the sample covariance (n − 1), written out."""
    X = np.column_stack(columns)
    n = X.shape[0]
    means = X.mean(axis=0)
    centred = X - means
    cov = centred.T @ centred / (n - 1)
    d = np.asarray(grad(means))
    var = float(d @ cov @ d / n)
    return {'n': n, 'estimate': float(g(means)), 'variance': var, 'std': float(np.sqrt(var))}


def deltamethod_references(data):
    out = {}
    t = data['treatment']
    num, den = data['numerator'], data['denominator']
    ratio = (lambda m: m[0] / m[1], lambda m: [1 / m[1], -m[0] / m[1] ** 2])
    mean = (lambda m: m[0], lambda m: [1.0])
    for arm in (0, 1):
        s = t == arm
        out[f'ratio_numerator_denominator_arm{arm}'] = delta_method([num[s], den[s]], *ratio)
        out[f'avg_x1_arm{arm}'] = delta_method([data['x1'][s]], *mean)
    out['ratio_numerator_denominator_all'] = delta_method([num, den], *ratio)
    # avg(y)/avg(x5) - avg(x1): three columns, a difference of a ratio and a mean.
    out['ratio_minus_mean_all'] = delta_method(
        [data['y'], data['x5'], data['x1']],
        lambda m: m[0] / m[1] - m[2],
        lambda m: [1 / m[1], -m[0] / m[1] ** 2, -1.0],
    )
    for cat in 'ABCDE':
        s = data['x_cat1'] == cat
        out[f'ratio_numerator_denominator_cat{cat}'] = delta_method([num[s], den[s]], *ratio)
    return out


def describe_references(data):
    """numpy's summary of each numeric column (quartiles: linear interpolation, numpy's default)."""
    out = {}
    for name, v in data.items():
        if v.dtype.kind not in 'fi':
            continue
        v = v.astype(float)
        out[name] = {
            'count': int(len(v)), 'mean': float(v.mean()), 'std': float(v.std(ddof=1)),
            'min': float(v.min()), 'p25': float(np.percentile(v, 25)), 'median': float(np.percentile(v, 50)),
            'p75': float(np.percentile(v, 75)), 'max': float(v.max()),
        }
    return out


# ---------------------------------------------------------------------------------------------
# Experiment-analysis SQL functions: reference values for the "tests" key
# ---------------------------------------------------------------------------------------------
#
# Every case is written once, as a Python call of the function of the same name below; the SQL
# text the Rust test runs ("select", "where") is rendered from the same arguments, so the query
# and the numbers it is compared with cannot drift apart. The delta method, CUPED and
# post-stratification are written out with numpy; scipy and statsmodels supply the library
# statistics (t and normal distributions, Welch/Student t-tests, Mann–Whitney, Kolmogorov–Smirnov,
# chi-square, Holm and Benjamini–Hochberg), and the hand formulas are checked against scipy where
# scipy has the same test (check_against_libraries).
#
# Conventions (DESIGN.md, "Numerical conventions"): differences are treatment − control; control
# is the first sorted arm unless `control => v`; covariances are sample covariances (n − 1); p
# and confidence intervals come from Student t with Welch–Satterthwaite df unless dist => 'normal'.

class Metric:
    """A metric expression g(avg(c_1), …, avg(c_k)) of column means, with its gradient ∇g
    written out by hand (the engine derives it symbolically from the SQL text)."""

    def __init__(self, sql, columns, value, gradient):
        self.sql = sql
        self.columns = list(columns)
        self._value = value
        self._gradient = gradient

    def value(self, means):
        """g at the column means (``means``: column name -> mean)."""
        return float(self._value(*[means[c] for c in self.columns]))

    def gradient(self, means, columns):
        """∇g at the column means, as a vector over ``columns`` (0 for columns g does not use)."""
        out = np.zeros(len(columns))
        for c, partial in zip(self.columns, self._gradient(*[means[c] for c in self.columns])):
            out[columns.index(c)] += partial
        return out


def avg(col):
    """g = x̄,  ∇g = (1)."""
    return Metric(f'avg({col})', [col], lambda m: m, lambda m: [1.0])


def ratio(num, den):
    """g = n̄ / d̄,  ∇g = (1/d̄, −n̄/d̄²)."""
    return Metric(f'avg({num})/avg({den})', [num, den], lambda n, d: n / d, lambda n, d: [1 / d, -n / d ** 2])


RATIO = ratio('numerator', 'denominator')
RATIO_PRE = ratio('numerator_pre', 'denominator_pre')
# g = n̄/d̄ − x̄1,  ∇g = (1/d̄, −n̄/d̄², −1)
RATIO_MINUS_X1 = Metric('avg(numerator)/avg(denominator) - avg(x1)', ['numerator', 'denominator', 'x1'],
                        lambda n, d, x: n / d - x, lambda n, d, x: [1 / d, -n / d ** 2, -1.0])


def columns_of(*metrics):
    """The distinct columns used by the metrics, in order of first use."""
    cols = []
    for m in metrics:
        cols += [c for c in m.columns if c not in cols]
    return cols


def cuped_terms(cuped):
    """`cuped => h_1 + … + h_m`: each top-level term is a separate covariate."""
    return [cuped] if isinstance(cuped, Metric) else list(cuped)


# --- the delta method, CUPED and post-stratification, written out ----------------------------

def moments(d, rows, columns):
    """n, column means and sample covariance Σ̂ (divisor n − 1) of ``columns`` over ``rows``."""
    X = np.column_stack([np.asarray(d[c], dtype=float)[rows] for c in columns])
    n = X.shape[0]
    mean = X.mean(axis=0)
    centred = X - mean
    return n, dict(zip(columns, mean)), centred.T @ centred / (n - 1)


def delta_cov(cov, n, du, dv):
    """Delta-method covariance of u(x̄) and v(x̄): C(u, v) = ∇uᵀ Σ̂ ∇v / n; C(g, g) = Var(g(x̄))."""
    return float(du @ cov @ dv / n)


def delta(d, rows, metric):
    """One sample, plain delta method: n, g(x̄), V = ∇gᵀ Σ̂ ∇g / n."""
    cols = columns_of(metric)
    n, mean, cov = moments(d, rows, cols)
    dg = metric.gradient(mean, cols)
    return n, metric.value(mean), delta_cov(cov, n, dg, dg)


def cuped_theta(d, rows, metric, covariates):
    """CUPED θ on one sample (the pooled arms for a two-sample test), gradients at its means:
        A_kl = ∇h_kᵀ Σ̂ ∇h_l,   b_k = ∇h_kᵀ Σ̂ ∇g,   θ = A⁻¹ b.
    Returns θ and the covariates' values h_k at the sample's means."""
    cols = columns_of(metric, *covariates)
    _, mean, cov = moments(d, rows, cols)
    dg = metric.gradient(mean, cols)
    dh = np.array([h.gradient(mean, cols) for h in covariates])
    theta = np.linalg.solve(dh @ cov @ dh.T, dh @ cov @ dg)
    return theta, np.array([h.value(mean) for h in covariates])


def cuped_adjust(d, rows, metric, covariates, theta, h_pooled):
    """One arm under CUPED with a given θ (gradients and C at this arm's means):
        mean' = g − Σ_k θ_k (h_k − h_k,pooled)
        V'    = C(g, g) − 2 Σ_k θ_k C(g, h_k) + Σ_k Σ_l θ_k θ_l C(h_k, h_l)
    Returns n, the unadjusted g and V = C(g, g), and the adjusted mean' and V'."""
    cols = columns_of(metric, *covariates)
    n, mean, cov = moments(d, rows, cols)
    dg = metric.gradient(mean, cols)
    dh = np.array([h.gradient(mean, cols) for h in covariates])
    c_gg = delta_cov(cov, n, dg, dg)
    c_gh = dh @ cov @ dg / n
    c_hh = dh @ cov @ dh.T / n
    g = metric.value(mean)
    h = np.array([hk.value(mean) for hk in covariates])
    return {'n': n, 'mean': g, 'var': c_gg,
            'mean_adj': float(g - theta @ (h - h_pooled)),
            'var_adj': float(c_gg - 2 * theta @ c_gh + theta @ c_hh @ theta)}


def stratum_weights(d, rows, column):
    """Post-stratification weights w_s = N_s / N over ``rows``."""
    values, counts = np.unique(d[column][rows], return_counts=True)
    return {v: c / counts.sum() for v, c in zip(values, counts)}


def post_stratified(d, rows, metric, column, weights):
    """Post-stratified metric over ``rows``: mean = Σ_s w_s g_s, V = Σ_s w_s² V_s, with g_s and V_s
    the delta-method value and variance within stratum s (column == s). Returns n, mean, V."""
    mean = var = 0.0
    for s, w in weights.items():
        _, g_s, v_s = delta(d, rows & (d[column] == s), metric)
        mean += w * g_s
        var += w * w * v_s
    return int(rows.sum()), mean, var


def arm_estimates(d, metric, rows0, rows1, cuped=None, pse=None):
    """Per-arm n, metric value and variance of its mean for control (rows0) and treatment (rows1),
    plus θ and the variance reduction under CUPED (None otherwise)."""
    if cuped is not None:
        covariates = cuped_terms(cuped)
        # θ from both arms' rows together (pooled means and covariance), applied per arm.
        theta, h_pooled = cuped_theta(d, rows0 | rows1, metric, covariates)
        a = [cuped_adjust(d, rows, metric, covariates, theta, h_pooled) for rows in (rows0, rows1)]
        reduction = 1 - (a[0]['var_adj'] + a[1]['var_adj']) / (a[0]['var'] + a[1]['var'])
        return ([x['n'] for x in a], [x['mean_adj'] for x in a], [x['var_adj'] for x in a],
                [float(t) for t in theta], reduction)
    if pse is not None:
        # Weights N_s / N over both arms pooled (this reproduces FCI; per-arm n_{a,s}/n_a does not).
        weights = stratum_weights(d, rows0 | rows1, pse)
        a = [post_stratified(d, rows, metric, pse, weights) for rows in (rows0, rows1)]
    else:
        a = [delta(d, rows, metric) for rows in (rows0, rows1)]
    return [x[0] for x in a], [x[1] for x in a], [x[2] for x in a], None, None


# --- distributions, p-values, intervals --------------------------------------------------------

def reference_distribution(df):
    """Student t with ``df`` degrees of freedom, or N(0, 1) when df is None."""
    return stats.norm() if df is None else stats.t(df)


def p_value(statistic, alternative, law):
    """two-sided: 2·sf(|t|); greater: sf(t); less: cdf(t)."""
    if alternative == 'two-sided':
        return float(2 * law.sf(abs(statistic)))
    return float(law.sf(statistic) if alternative == 'greater' else law.cdf(statistic))


def interval(estimate, se, alternative, alpha, law):
    """two-sided: est ∓ ppf(1 − α/2)·se; greater: [est − ppf(1 − α)·se, ∞); less: (−∞, est + ppf(1 − α)·se]."""
    if alternative == 'two-sided':
        q = law.ppf(1 - alpha / 2)
        return float(estimate - q * se), float(estimate + q * se)
    q = law.ppf(1 - alpha)
    if alternative == 'greater':
        return float(estimate - q * se), math.inf
    return -math.inf, float(estimate + q * se)


def two_sample_result(arms, n, mean, var, alternative='two-sided', alpha=0.05, dist='t',
                      equal_var=False, theta=None, variance_reduction=None):
    """The ttest_2samp fields from per-arm n_a, means and variances V_a of the means."""
    (n0, n1), (m0, m1), (v0, v1) = n, mean, var
    if equal_var:
        # Student: σ_a² = V_a n_a, s_p² = ((n0−1)σ0² + (n1−1)σ1²)/(n0+n1−2), V_a = s_p²/n_a.
        sp2 = ((n0 - 1) * v0 * n0 + (n1 - 1) * v1 * n1) / (n0 + n1 - 2)
        v0, v1 = sp2 / n0, sp2 / n1
        df = float(n0 + n1 - 2)
    else:
        # Welch–Satterthwaite: df = (V0 + V1)² / (V0²/(n0−1) + V1²/(n1−1)).
        df = (v0 + v1) ** 2 / (v0 ** 2 / (n0 - 1) + v1 ** 2 / (n1 - 1))
    df = None if dist == 'normal' else float(df)
    law = reference_distribution(df)
    estimate = m1 - m0
    se = math.sqrt(v0 + v1)
    t = estimate / se
    lower, upper = interval(estimate, se, alternative, alpha, law)
    # Relative lift r = m1/m0 − 1 by the delta method (arms independent):
    # Var(r) = V1/m0² + m1²·V0/m0⁴; interval from the same distribution as the absolute one.
    relative = estimate / m0
    relative_se = math.sqrt(v1 / m0 ** 2 + m1 ** 2 * v0 / m0 ** 4)
    rel_lower, rel_upper = interval(relative, relative_se, alternative, alpha, law)
    return {
        'control_arm': arms[0], 'treatment_arm': arms[1], 'n0': int(n0), 'n1': int(n1),
        'mean0': float(m0), 'mean1': float(m1), 'estimate': float(estimate), 'stderr': se,
        't_statistic': t, 'df': df, 'p_value': p_value(t, alternative, law),
        'ci_lower': lower, 'ci_upper': upper, 'relative_estimate': relative,
        'relative_ci_lower': rel_lower, 'relative_ci_upper': rel_upper,
        'theta': theta, 'variance_reduction': variance_reduction,
    }


# --- arms ----------------------------------------------------------------------------------

def arm_values(d, arm):
    """The arms present, sorted (numbers numerically, strings lexicographically)."""
    return list(np.unique(d[arm]))


def label(value):
    """Arm and group labels are strings: 0 -> "0", 'A' -> "A"."""
    return str(value.item() if isinstance(value, np.generic) else value)


def control_and_treatment(d, arm, control=None):
    """The two arms as (control, treatment): control is the first sorted arm unless given."""
    values = arm_values(d, arm)
    assert len(values) == 2, f'{arm} has {len(values)} arms'
    if control is None:
        return values[0], values[1]
    c = [v for v in values if label(v) == label(control)]
    assert len(c) == 1, f'control {control!r} is not an arm of {arm}'
    return c[0], [v for v in values if v != c[0]][0]


def arm_samples(d, value, arm):
    """(control values, treatment values) of a column, control the first sorted arm."""
    c, t = control_and_treatment(d, arm)
    x = np.asarray(d[value], dtype=float)
    return x[d[arm] == c], x[d[arm] == t]


# --- the SQL functions (Python name = SQL name; arguments as in SQL) --------------------------

def compare_arms(d, metric, arm, control, treatment, alternative='two-sided', cuped=None, pse=None,
                 alpha=0.05, dist='t', equal_var=False):
    """ttest_2samp of arm ``treatment`` against arm ``control`` (other arms' rows ignored)."""
    rows0, rows1 = d[arm] == control, d[arm] == treatment
    n, mean, var, theta, reduction = arm_estimates(d, metric, rows0, rows1, cuped, pse)
    return two_sample_result((label(control), label(treatment)), n, mean, var, alternative, alpha, dist,
                             equal_var, theta, reduction)


def ttest_2samp(d, metric, arm, alternative='two-sided', *, cuped=None, pse=None, control=None,
                alpha=0.05, dist='t', equal_var=False):
    """Delta-method two-sample t-test (Welch by default); CUPED θ pooled over both arms; PSE with
    pooled stratum weights N_s/N."""
    assert cuped is None or pse is None
    c, t = control_and_treatment(d, arm, control)
    return compare_arms(d, metric, arm, c, t, alternative, cuped, pse, alpha, dist, equal_var)


def ttest_1samp(d, metric, alternative='two-sided', *, mu=0.0, cuped=None, pse=None, alpha=0.05, dist='t'):
    """Delta-method one-sample t-test of g against mu. CUPED (θ from this sample) reduces the
    variance but leaves the estimate unadjusted (as FCI); PSE: w_s = n_s/n."""
    rows = np.ones(len(d[columns_of(metric)[0]]), dtype=bool)
    theta = reduction = None
    if cuped is not None:
        covariates = cuped_terms(cuped)
        th, h = cuped_theta(d, rows, metric, covariates)
        a = cuped_adjust(d, rows, metric, covariates, th, h)
        n, estimate, var = a['n'], a['mean'], a['var_adj']
        theta, reduction = [float(x) for x in th], 1 - a['var_adj'] / a['var']
    elif pse is not None:
        n, estimate, var = post_stratified(d, rows, metric, pse, stratum_weights(d, rows, pse))
    else:
        n, estimate, var = delta(d, rows, metric)
    df = None if dist == 'normal' else float(n - 1)
    law = reference_distribution(df)
    se = math.sqrt(var)
    t = (estimate - mu) / se
    lower, upper = interval(estimate, se, alternative, alpha, law)   # interval of g itself
    return {'n': int(n), 'estimate': float(estimate), 'mu': float(mu), 'stderr': se, 't_statistic': t,
            'df': df, 'p_value': p_value(t, alternative, law), 'ci_lower': lower, 'ci_upper': upper,
            'theta': theta, 'variance_reduction': reduction}


def ttests_2samp(d, metric, arm, alternative='two-sided', *, cuped=None, control=None, pairs='control',
                 alpha=0.05, dist='t'):
    """ttest_2samp for every arm vs control (pairs => 'control') or every pair i < j of sorted arms
    (pairs => 'all', arm i as control), each on its two arms only; Holm and Benjamini–Hochberg
    adjusted p-values (statsmodels) over the rows of the result."""
    values = arm_values(d, arm)
    if pairs == 'all':
        comparisons = [(values[i], values[j]) for i in range(len(values)) for j in range(i + 1, len(values))]
    else:
        c = values[0] if control is None else [v for v in values if label(v) == label(control)][0]
        comparisons = [(c, v) for v in values if v != c]
    rows = [compare_arms(d, metric, arm, c, t, alternative, cuped, None, alpha, dist) for c, t in comparisons]
    p = [r['p_value'] for r in rows]
    for r, holm, bh in zip(rows, multipletests(p, method='holm')[1], multipletests(p, method='fdr_bh')[1]):
        r['p_value_holm'], r['p_value_bh'] = float(holm), float(bh)
    return {'rows': rows}


def student_ttest(d, value, arm):
    return ttest_2samp(d, avg(value), arm, equal_var=True)


def welch_ttest(d, value, arm):
    return ttest_2samp(d, avg(value), arm, equal_var=False)


def mean_z_test(d, value, arm, var_control, var_treatment, confidence_level=0.95):
    """z-test with known population variances: V_a = var_a / n_a, normal p and CI, α = 1 − level."""
    c, t = control_and_treatment(d, arm)
    n = [int((d[arm] == a).sum()) for a in (c, t)]
    mean = [float(np.asarray(d[value], dtype=float)[d[arm] == a].mean()) for a in (c, t)]
    var = [var_control / n[0], var_treatment / n[1]]
    return two_sample_result((label(c), label(t)), n, mean, var, alpha=1 - confidence_level, dist='normal')


def critical_value(alternative, alpha):
    """z_{1−α/2} two-sided, z_{1−α} one-sided."""
    return float(stats.norm.ppf(1 - alpha / 2 if alternative == 'two-sided' else 1 - alpha))


def mde(d, metric, arm, alternative='two-sided', *, cuped=None, alpha=0.05, power=0.8):
    """Minimum detectable effect (z_α + z_power)·se with se the ttest_2samp stderr (CUPED-adjusted
    when given); relative to |mean0| (the ttest_2samp mean0, CUPED-adjusted when given)."""
    r = ttest_2samp(d, metric, arm, cuped=cuped)
    m = (critical_value(alternative, alpha) + float(stats.norm.ppf(power))) * r['stderr']
    return {'n0': r['n0'], 'n1': r['n1'], 'mean0': r['mean0'], 'stderr': r['stderr'], 'mde': m,
            'relative_mde': m / abs(r['mean0']), 'alpha': float(alpha), 'power': float(power)}


def sample_size(d, metric, arm, effect, alternative='two-sided', *, relative=False, cuped=None, alpha=0.05,
                power=0.8):
    """n per arm = ceil((z_α + z_power)²·(σ0² + σ1²)/effect²), σ_a² = V_a·n_a (CUPED-adjusted V_a when
    given); a relative effect is multiplied by |mean0|."""
    c, t = control_and_treatment(d, arm)
    n, mean, var, _, _ = arm_estimates(d, metric, d[arm] == c, d[arm] == t, cuped)
    s2 = [v * k for v, k in zip(var, n)]
    effect_abs = effect * abs(mean[0]) if relative else float(effect)
    exact = (critical_value(alternative, alpha) + float(stats.norm.ppf(power))) ** 2 * sum(s2) / effect_abs ** 2
    assert abs(exact - round(exact)) > 1e-6, 'n per arm too close to an integer for a stable ceil'
    n_per_arm = math.ceil(exact)
    return {'n_per_arm': n_per_arm, 'n_total': 2 * n_per_arm, 'effect': effect_abs,
            'sigma0': math.sqrt(s2[0]), 'sigma1': math.sqrt(s2[1]), 'alpha': float(alpha), 'power': float(power)}


def srm(d, expr, arm, ratios=None):
    """Sample-ratio mismatch: O_a = Σ expr over arm a (sorted arms), E_a = ΣO·r_a/Σr, Pearson
    chi-square with k − 1 df (scipy.stats.chisquare)."""
    values = arm_values(d, arm)
    x = np.full(len(d[arm]), float(expr)) if isinstance(expr, (int, float)) else np.asarray(d[expr], dtype=float)
    observed = np.array([x[d[arm] == v].sum() for v in values])
    r = np.ones(len(values)) if ratios is None else np.asarray(ratios, dtype=float)
    expected = observed.sum() * r / r.sum()
    res = stats.chisquare(observed, expected)
    assert_close(res.statistic, ((observed - expected) ** 2 / expected).sum())
    return {'chi_square': float(res.statistic), 'df': len(values) - 1, 'p_value': float(res.pvalue),
            'arms': [label(v) for v in values], 'observed': [float(o) for o in observed],
            'expected': [float(e) for e in expected]}


def mann_whitney_utest(d, value, arm, alternative='two-sided', *, continuity=True):
    """scipy.stats.mannwhitneyu(treatment, control, method='auto'); u1 = U of the treatment arm,
    u0 = n0·n1 − u1; z of scipy's normal approximation (null when scipy used the exact law)."""
    x0, x1 = arm_samples(d, value, arm)
    n0, n1 = len(x0), len(x1)
    res = stats.mannwhitneyu(x1, x0, use_continuity=continuity, alternative=alternative, method='auto')
    # U1 by hand: pairs (treatment > control) + ½ ties.
    s0 = np.sort(x0)
    u1 = float((np.searchsorted(s0, x1, 'left') + np.searchsorted(s0, x1, 'right')).sum() / 2)
    assert u1 == res.statistic
    u0 = n0 * n1 - u1
    _, ties = np.unique(np.concatenate([x0, x1]), return_counts=True)
    # scipy's 'auto': exact when an arm has ≤ 8 values and there are no ties, else asymptotic.
    method = 'asymptotic' if (n0 > 8 and n1 > 8) or (ties > 1).any() else 'exact'
    z = None
    if method == 'asymptotic':
        # scipy standardises U1 (greater), U0 (less) or max(U0, U1) (two-sided, p doubled):
        # z = (U − n0·n1/2 − ½·continuity) / s,  s² = n0·n1/12·((N + 1) − Σ(t³ − t)/(N(N − 1))).
        u, factor = {'greater': (u1, 1), 'less': (u0, 1), 'two-sided': (max(u0, u1), 2)}[alternative]
        big_n = n0 + n1
        s = math.sqrt(n0 * n1 / 12 * ((big_n + 1) - float((ties ** 3 - ties).sum()) / (big_n * (big_n - 1))))
        z = (u - n0 * n1 / 2 - (0.5 if continuity else 0.0)) / s
        assert_close(min(1.0, factor * stats.norm.sf(z)), res.pvalue)
    return {'n0': n0, 'n1': n1, 'u0': u0, 'u1': u1, 'p_value': float(res.pvalue), 'z': z, 'method': method}


def ks_2samp(d, value, arm, alternative='two-sided'):
    """scipy.stats.ks_2samp(treatment, control, method='auto').

    scipy's 'auto' tries the exact distribution when max(n0, n1) ≤ 10000 and falls back, with a
    warning, to the asymptotic one when the exact computation overflows. Two-sided, the exact
    computation succeeds at these sizes. One-sided with n0 ≠ n1 it needs binom(n0 + n1, n0) as a
    finite double (n0 + n1 ≲ 1030), so the full table and the x_cat1 groups fall back to the
    asymptotic law; n0 = n1, or D rounding to 0 on the lcm(n0, n1) grid (p = 1), stay exact."""
    x0, x1 = arm_samples(d, value, arm)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        res = stats.ks_2samp(x1, x0, alternative=alternative, method='auto')
    switched = any('Switching' in str(w.message) for w in caught)
    method = 'exact' if max(len(x0), len(x1)) <= 10000 and not switched else 'asymptotic'
    # D by hand from the two empirical CDFs at every observed value: greater = sup(F1 − F0),
    # less = sup(F0 − F1), two-sided = the larger of the two.
    at = np.concatenate([x0, x1])
    diff = (np.searchsorted(np.sort(x1), at, 'right') / len(x1)) - (np.searchsorted(np.sort(x0), at, 'right') / len(x0))
    dist = {'greater': diff.max(), 'less': (-diff).max(), 'two-sided': np.abs(diff).max()}[alternative]
    assert_close(max(dist, 0.0), res.statistic, rel=1e-12)
    return {'n0': len(x0), 'n1': len(x1), 'd': float(res.statistic), 'p_value': float(res.pvalue), 'method': method}


# --- cases -------------------------------------------------------------------------------------

class Col(str):
    """A column name: rendered into SQL as is (a plain ``str`` argument is a quoted string literal)."""


class Where:
    """A WHERE condition ``column op value``, rendered to SQL and applied with numpy."""
    OPS = {'=': np.equal, '>': np.greater, '<': np.less}

    def __init__(self, column, op, value):
        self.column, self.op, self.value = column, op, value

    def sql(self):
        return f'{self.column} {self.op} {sql_literal(self.value)}'

    def mask(self, d):
        return self.OPS[self.op](d[self.column], self.value)


def sql_literal(v):
    if isinstance(v, Metric):
        return v.sql
    if isinstance(v, Col):
        return str(v)
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, str):
        return "'" + v + "'"
    if isinstance(v, (int, float)):
        return repr(v)
    if all(isinstance(x, Metric) for x in v):   # cuped => h_1 + h_2: one covariate per term
        return ' + '.join(x.sql for x in v)
    return '[' + ', '.join(sql_literal(x) for x in v) + ']'


def case(name, fn, *args, where=None, group_by=None, fci=None, **options):
    return {'name': name, 'fn': fn, 'args': args, 'options': options, 'where': where,
            'group_by': group_by, 'fci': fci}


TREAT = Col('treatment')
CAT = Col('x_cat1')
TREATED = Where('treatment', '=', 1)


def cases():
    """Every case, in output order. FCI-published values (docs/fci-reference.md) go into "fci"."""
    fci_cuped_avg = {  # groupBy('x_cat1'), avg(numerator), CUPED avg(numerator_pre)
        'A': (7.518409, 22.195092, 14.676682, 0.342147, 42.895825),
        'B': (2.481226, 17.787127, 15.305901, 0.365716, 41.851896),
        'C': (4.579375, 19.816027, 15.236652, 0.419183, 36.348422),
        'D': (4.582961, 19.156961, 14.574000, 0.373465, 39.023766),
        'E': (4.324137, 19.437071, 15.112935, 0.370127, 40.831785),
    }
    fci_cuped_ratio = {  # groupBy('x_cat1'), ratio, CUPED ratio_pre
        'A': (1.242126, 2.766098, 1.523972, 0.060686, 25.112311),
        'B': (0.409006, 2.202847, 1.793841, 0.053917, 33.270683),
        'C': (0.778977, 2.562364, 1.783388, 0.065652, 27.164280),
        'D': (0.781435, 2.455767, 1.674332, 0.058940, 28.407344),
        'E': (0.714211, 2.435665, 1.721455, 0.056144, 30.661265),
    }
    keys = ('mean0', 'mean1', 'estimate', 'stderr', 't_statistic')

    def two(values):
        return dict(zip(keys, values))

    def by_group(table):
        return {g: two(v) for g, v in table.items()}

    def one(values):
        return dict(zip(('estimate', 'stderr', 't_statistic'), values))

    x1 = avg('x1')
    return [
        # ttest_2samp
        case('ttest_2samp mean', ttest_2samp, avg('numerator'), TREAT,
             fci=two((4.700087, 19.737005, 15.036918, 0.203794, 73.784922))),
        case('ttest_2samp mean of y (= scipy Welch)', ttest_2samp, avg('y'), TREAT),
        case('ttest_2samp mean A/A (x1)', ttest_2samp, x1, TREAT),
        case('ttest_2samp mean A/A less', ttest_2samp, x1, TREAT, 'less'),
        case('ttest_2samp mean A/A greater', ttest_2samp, x1, TREAT, 'greater'),
        case('ttest_2samp ratio', ttest_2samp, RATIO, TREAT),
        case('ttest_2samp ratio less', ttest_2samp, RATIO, TREAT, 'less'),
        case('ttest_2samp ratio greater', ttest_2samp, RATIO, TREAT, 'greater'),
        case('ttest_2samp ratio A/A (pre-period)', ttest_2samp, RATIO_PRE, TREAT),
        case('ttest_2samp ratio cuped ratio_pre', ttest_2samp, RATIO, TREAT, cuped=[RATIO_PRE],
             fci=two((0.793732, 2.486118, 1.692386, 0.026685, 63.419925))),
        case('ttest_2samp ratio cuped ratio_pre + x1', ttest_2samp, RATIO, TREAT, cuped=[RATIO_PRE, x1]),
        case('ttest_2samp ratio cuped ratio_pre less alpha 0.1', ttest_2samp, RATIO, TREAT, 'less',
             cuped=[RATIO_PRE], alpha=0.1),
        case('ttest_2samp mean cuped numerator_pre', ttest_2samp, avg('numerator'), TREAT,
             cuped=[avg('numerator_pre')]),
        case('ttest_2samp A/A cuped x1 greater', ttest_2samp, avg('numerator_pre'), TREAT, 'greater',
             cuped=[x1]),
        case('ttest_2samp mean cuped numerator_pre by x_cat1', ttest_2samp, avg('numerator'), TREAT,
             cuped=[avg('numerator_pre')], group_by=CAT, fci=by_group(fci_cuped_avg)),
        case('ttest_2samp ratio cuped ratio_pre by x_cat1', ttest_2samp, RATIO, TREAT,
             cuped=[RATIO_PRE], group_by=CAT, fci=by_group(fci_cuped_ratio)),
        case('ttest_2samp ratio pse x_cat1', ttest_2samp, RATIO, TREAT, pse=CAT,
             fci=two((0.791139, 2.487152, 1.696013, 0.032986, 51.416725))),
        case('ttest_2samp mean pse x_cat1', ttest_2samp, avg('numerator'), TREAT, pse=CAT),
        case('ttest_2samp mean control 1', ttest_2samp, avg('numerator'), TREAT, control=1),
        case('ttest_2samp ratio alpha 0.1', ttest_2samp, RATIO, TREAT, alpha=0.1),
        case('ttest_2samp ratio normal', ttest_2samp, RATIO, TREAT, dist='normal'),
        case('ttest_2samp mean A/A normal greater', ttest_2samp, x1, TREAT, 'greater', dist='normal'),
        case('ttest_2samp mean equal_var (= scipy Student)', ttest_2samp, avg('y'), TREAT, equal_var=True),
        case('ttest_2samp ratio equal_var', ttest_2samp, RATIO, TREAT, equal_var=True),
        case('ttest_2samp ratio minus mean', ttest_2samp, RATIO_MINUS_X1, TREAT),
        case('ttest_2samp mean by x_cat1', ttest_2samp, avg('y'), TREAT, group_by=CAT),
        case('ttest_2samp mean where x1 > 0', ttest_2samp, avg('y'), TREAT, where=Where('x1', '>', 0)),
        # ttest_1samp
        case('ttest_1samp mean treated', ttest_1samp, avg('numerator'), where=TREATED,
             fci=one((19.737005, 0.185678, 106.297168))),
        case('ttest_1samp ratio treated', ttest_1samp, RATIO, where=TREATED,
             fci=one((2.485402, 0.029102, 85.402433))),
        case('ttest_1samp mean treated mu 19', ttest_1samp, avg('numerator'), mu=19, where=TREATED),
        case('ttest_1samp mean treated greater mu 19.5', ttest_1samp, avg('numerator'), 'greater', mu=19.5,
             where=TREATED),
        case('ttest_1samp mean treated less mu 20', ttest_1samp, avg('numerator'), 'less', mu=20,
             where=TREATED),
        case('ttest_1samp mean x1 (= scipy)', ttest_1samp, x1),
        case('ttest_1samp mean x1 normal alpha 0.1', ttest_1samp, x1, dist='normal', alpha=0.1),
        case('ttest_1samp mean cuped numerator_pre treated', ttest_1samp, avg('numerator'),
             cuped=[avg('numerator_pre')], where=TREATED),
        case('ttest_1samp ratio cuped ratio_pre treated mu 2.5', ttest_1samp, RATIO, mu=2.5,
             cuped=[RATIO_PRE], where=TREATED),
        case('ttest_1samp ratio cuped ratio_pre + x1 treated', ttest_1samp, RATIO, cuped=[RATIO_PRE, x1],
             where=TREATED),
        case('ttest_1samp ratio pse x_cat1 treated', ttest_1samp, RATIO, pse=CAT, where=TREATED),
        case('ttest_1samp ratio minus mean', ttest_1samp, RATIO_MINUS_X1, mu=1.8),
        case('ttest_1samp mean by treatment', ttest_1samp, avg('y'), mu=10, group_by=TREAT),
        # ttests_2samp
        case('ttests_2samp mean by x_cat1 arms', ttests_2samp, avg('y'), CAT),
        case('ttests_2samp A/A mean by x_cat1 arms', ttests_2samp, x1, CAT),
        case('ttests_2samp ratio by x_cat1 arms', ttests_2samp, RATIO, CAT),
        case('ttests_2samp ratio cuped ratio_pre by x_cat1 arms', ttests_2samp, RATIO, CAT, cuped=[RATIO_PRE]),
        case('ttests_2samp A/A all pairs', ttests_2samp, x1, CAT, pairs='all'),
        case('ttests_2samp mean control C', ttests_2samp, avg('y'), CAT, control='C'),
        case('ttests_2samp A/A greater normal', ttests_2samp, x1, CAT, 'greater', dist='normal'),
        case('ttests_2samp mean x_cat1 arms by treatment', ttests_2samp, avg('y'), CAT, group_by=TREAT),
        # srm
        case('srm counts', srm, 1, TREAT),
        case('srm sums', srm, Col('numerator'), TREAT, [1, 1], fci={'chi_square': 48571.698643}),
        case('srm counts x_cat1 ratios', srm, 1, CAT, [1, 1, 1, 1, 2]),
        case('srm counts x_cat1 by treatment', srm, 1, CAT, group_by=TREAT),
        # mann_whitney_utest
        case('mann_whitney numerator', mann_whitney_utest, Col('numerator'), TREAT, fci={'u0': 2379991}),
        case('mann_whitney y less', mann_whitney_utest, Col('y'), TREAT, 'less'),
        case('mann_whitney y greater', mann_whitney_utest, Col('y'), TREAT, 'greater'),
        case('mann_whitney A/A x1', mann_whitney_utest, Col('x1'), TREAT),
        case('mann_whitney A/A x1 no continuity', mann_whitney_utest, Col('x1'), TREAT, continuity=False),
        case('mann_whitney A/A x1 less no continuity', mann_whitney_utest, Col('x1'), TREAT, 'less',
             continuity=False),
        case('mann_whitney exact (x2 > 6)', mann_whitney_utest, Col('y'), TREAT, where=Where('x2', '>', 6)),
        case('mann_whitney exact greater (x2 > 6)', mann_whitney_utest, Col('x3'), TREAT, 'greater',
             where=Where('x2', '>', 6)),
        case('mann_whitney asymptotic small (x1 > 2.7)', mann_whitney_utest, Col('x3'), TREAT,
             where=Where('x1', '>', 2.7)),
        case('mann_whitney y by x_cat1', mann_whitney_utest, Col('y'), TREAT, group_by=CAT),
        case('mann_whitney x1 by x_cat1', mann_whitney_utest, Col('x1'), TREAT, group_by=CAT),
        # ks_2samp
        case('ks y', ks_2samp, Col('y'), TREAT, fci={'d': 0.6382961593945475}),
        case('ks y less', ks_2samp, Col('y'), TREAT, 'less'),
        case('ks y greater', ks_2samp, Col('y'), TREAT, 'greater'),
        case('ks A/A x1', ks_2samp, Col('x1'), TREAT),
        case('ks A/A x1 less', ks_2samp, Col('x1'), TREAT, 'less'),
        case('ks small (x1 > 2.9)', ks_2samp, Col('x3'), TREAT, where=Where('x1', '>', 2.9)),
        case('ks small less (x2 > 6)', ks_2samp, Col('x3'), TREAT, 'less', where=Where('x2', '>', 6)),
        case('ks small greater (x2 > 6)', ks_2samp, Col('x3'), TREAT, 'greater', where=Where('x2', '>', 6)),
        case('ks one-sided exact (x1 > 1.5)', ks_2samp, Col('x3'), TREAT, 'less', where=Where('x1', '>', 1.5)),
        case('ks A/A x1 greater', ks_2samp, Col('x1'), TREAT, 'greater'),
        case('ks y by x_cat1', ks_2samp, Col('y'), TREAT, group_by=CAT),
        case('ks x1 by x_cat1', ks_2samp, Col('x1'), TREAT, group_by=CAT),
        case('ks x1 less by x_cat1', ks_2samp, Col('x1'), TREAT, 'less', group_by=CAT),
        # student_ttest, welch_ttest, mean_z_test
        case('student_ttest y', student_ttest, Col('y'), TREAT, fci={'t_statistic': 72.8602591880598}),
        case('welch_ttest y', welch_ttest, Col('y'), TREAT, fci={'t_statistic': 73.78492246858345}),
        case('student_ttest A/A x1', student_ttest, Col('x1'), TREAT),
        case('welch_ttest A/A x1', welch_ttest, Col('x1'), TREAT),
        case('mean_z_test y', mean_z_test, Col('y'), TREAT, 100, 120),
        case('mean_z_test y level 0.9', mean_z_test, Col('y'), TREAT, 100, 120, 0.9),
        case('mean_z_test A/A x1', mean_z_test, Col('x1'), TREAT, 1, 1),
        # mde
        case('mde mean', mde, avg('numerator'), TREAT),
        case('mde ratio', mde, RATIO, TREAT),
        case('mde ratio cuped ratio_pre', mde, RATIO, TREAT, cuped=[RATIO_PRE]),
        case('mde mean greater alpha 0.1 power 0.9', mde, avg('numerator'), TREAT, 'greater', alpha=0.1,
             power=0.9),
        case('mde mean by x_cat1', mde, avg('numerator'), TREAT, group_by=CAT),
        # sample_size
        case('sample_size mean', sample_size, avg('numerator'), TREAT, 0.5),
        case('sample_size mean relative', sample_size, avg('numerator'), TREAT, 0.02, relative=True),
        case('sample_size ratio', sample_size, RATIO, TREAT, 0.05),
        case('sample_size ratio cuped ratio_pre', sample_size, RATIO, TREAT, 0.05, cuped=[RATIO_PRE]),
        case('sample_size ratio relative cuped ratio_pre + x1', sample_size, RATIO, TREAT, 0.03, relative=True,
             cuped=[RATIO_PRE, x1]),
        case('sample_size mean less alpha 0.1 power 0.9', sample_size, avg('numerator'), TREAT, 0.5, 'less',
             alpha=0.1, power=0.9),
    ]


def subset(d, rows):
    return {k: v[rows] for k, v in d.items()}


def run_case(data, c):
    """Evaluate one case like the SQL the Rust test runs:
    SELECT [group,] <select> AS r FROM test_data_small [WHERE ...] [GROUP BY g ORDER BY g]."""
    fn = c['fn']
    select = fn.__name__ + '(' + ', '.join(
        [sql_literal(a) for a in c['args']] + [f'{k} => {sql_literal(v)}' for k, v in c['options'].items()]) + ')'
    d = data if c['where'] is None else subset(data, c['where'].mask(data))
    if c['group_by'] is None:
        groups = [(None, d)]
    else:
        groups = [(label(g), subset(d, d[c['group_by']] == g)) for g in np.unique(d[c['group_by']])]
    rows = [{'group': g, 'fields': fn(dg, *c['args'], **c['options'])} for g, dg in groups]
    if c['fci'] is not None:
        published = c['fci'] if c['group_by'] else {None: c['fci']}
        for row in rows:
            for field, value in published[row['group']].items():
                assert abs(row['fields'][field] - value) <= 5e-7, (c['name'], row['group'], field, row['fields'][field], value)
    return {'name': c['name'], 'select': select, 'where': None if c['where'] is None else c['where'].sql(),
            'group_by': None if c['group_by'] is None else str(c['group_by']), 'rows': rows, 'fci': c['fci']}


def to_json(v):
    """JSON-ready copy: ±inf as the strings "Infinity"/"-Infinity"; NaN is a bug."""
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        assert not math.isnan(v), 'NaN in a reference value'
        return 'Infinity' if v == math.inf else '-Infinity' if v == -math.inf else float(v)
    return v


def assert_close(a, b, rel=1e-12):
    assert a == b or math.isclose(a, b, rel_tol=rel, abs_tol=0.0), (a, b)


def check_against_libraries(data):
    """The hand formulas against scipy / statsmodels / the deltamethod section, where they overlap."""
    t = data['treatment']
    for col in ('y', 'x1'):
        y0, y1 = data[col][t == 0], data[col][t == 1]
        for alternative in ('two-sided', 'less', 'greater'):
            for equal_var in (False, True):
                for alpha in (0.05, 0.1):
                    ours = ttest_2samp(data, avg(col), TREAT, alternative, equal_var=equal_var, alpha=alpha)
                    ref = stats.ttest_ind(y1, y0, equal_var=equal_var, alternative=alternative)
                    ci = ref.confidence_interval(1 - alpha)
                    for a, b in ((ours['t_statistic'], ref.statistic), (ours['p_value'], ref.pvalue),
                                 (ours['df'], ref.df), (ours['ci_lower'], ci.low), (ours['ci_upper'], ci.high)):
                        assert_close(a, b)
            ours = ttest_1samp(subset(data, t == 1), avg(col), alternative, mu=0.3)
            ref = stats.ttest_1samp(y1, 0.3, alternative=alternative)
            ci = ref.confidence_interval(0.95)
            for a, b in ((ours['t_statistic'], ref.statistic), (ours['p_value'], ref.pvalue), (ours['df'], ref.df),
                         (ours['ci_lower'], ci.low), (ours['ci_upper'], ci.high)):
                assert_close(a, b)
    # Per-arm delta method = the deltamethod section's values.
    dm = deltamethod_references(data)
    r = ttest_2samp(data, RATIO, TREAT)
    assert_close(r['stderr'] ** 2, dm['ratio_numerator_denominator_arm0']['variance']
                 + dm['ratio_numerator_denominator_arm1']['variance'])
    # CUPED with one mean covariate: θ = the pooled OLS slope of y on x.
    r = ttest_2samp(data, avg('numerator'), TREAT, cuped=[avg('numerator_pre')])
    ols = sm.OLS(data['numerator'], sm.add_constant(data['numerator_pre'])).fit()
    assert_close(r['theta'][0], ols.params[1], rel=1e-10)
    # PSE: pooled weights N_s/N reproduce FCI's published numbers; per-arm weights n_{a,s}/n_a do not.
    rows0, rows1 = t == 0, t == 1
    per_arm = [post_stratified(data, rows, RATIO, 'x_cat1', stratum_weights(data, rows, 'x_cat1')) for rows in (rows0, rows1)]
    assert abs(per_arm[0][1] - 0.791139) > 1e-4 and abs(per_arm[1][1] - 2.487152) > 1e-4


def experiment_references(data):
    check_against_libraries(data)
    return to_json([run_case(data, c) for c in cases()])


def main():
    data = fci_test_data_small()
    write_csv(data, os.path.join(HERE, 'test_data_small.csv'))
    ref = {
        'source': 'tests/reference/make_reference.py',
        'numpy': np.__version__,
        'data': {
            'rows': int(len(data['x1'])),
            'treatment_counts': [int((data['treatment'] == a).sum()) for a in (0, 1)],
            'mean_numerator_by_arm': [float(data['numerator'][data['treatment'] == a].mean()) for a in (0, 1)],
        },
        'deltamethod': deltamethod_references(data),
        'describe': describe_references(data),
        'tests': experiment_references(data),
    }
    with open(os.path.join(HERE, 'reference.json'), 'w') as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write('\n')
    dm = ref['deltamethod']['ratio_numerator_denominator_arm0']
    print(f"wrote test_data_small.csv and reference.json; control-arm ratio deltamethod std = {dm['std']!r}")


if __name__ == '__main__':
    main()
