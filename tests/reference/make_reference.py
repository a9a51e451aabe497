#!/usr/bin/env python3
"""Regenerate fastcausal's reference data and reference values.

1. FCI's ``test_data_small``: 10,000 rows drawn with numpy's legacy generator after
   ``np.random.seed(0)``, with the exact calls, order and column order of FCI's demo notebook
   (examples/demo.ipynb of Tencent/fast-causal-inference). Written to ``test_data_small.csv``
   with every float in its shortest round-trip form, so a reader gets numpy's exact doubles.
2. Reference values computed independently of fastcausal — with numpy only for the delta
   method (the textbook formula, written out below), and scipy / statsmodels / linearmodels for
   the statistics that have library implementations — written to ``reference.json``.

Tests read the two files; running the tests needs no Python. Run this script after changing
it (needs numpy; later sections need scipy, statsmodels, linearmodels):

    python3 tests/reference/make_reference.py
"""

import csv
import json
import os

import numpy as np

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
    }
    with open(os.path.join(HERE, 'reference.json'), 'w') as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write('\n')
    dm = ref['deltamethod']['ratio_numerator_denominator_arm0']
    print(f"wrote test_data_small.csv and reference.json; control-arm ratio deltamethod std = {dm['std']!r}")


if __name__ == '__main__':
    main()
