#!/usr/bin/env python3
"""Regenerate the reference values of fastcausal's probability distributions.

scipy.stats.norm, scipy.stats.t and scipy.stats.chi2 (cdf, sf, ppf, isf) over a grid that
reaches into the far tails, from 1 to 1e12 degrees of freedom and the normal limit, written to
``distributions.json`` next to this script. ``crates/fastcausal-stats/tests/distributions.rs``
reads the file and asserts every value to 1e-12 relative; running that test needs no Python.

Points where scipy returns 0, a value below 1e-300 or a non-finite value are left out. If
mpmath is installed (``pip install mpmath``), every value that is kept is also checked
against a 50-digit mpmath computation, and the script stops if scipy is off by more than
2e-13 anywhere (a fifth of the test's tolerance); the few points where this scipy version is
known to be wrong are listed in ``SCIPY_WRONG`` below, excluded, and recorded in the JSON with
the reason. Run:

    python3 tests/reference/make_distributions.py
"""

import json
import math
import os

import numpy as np
import scipy
import scipy.stats as st

HERE = os.path.dirname(os.path.abspath(__file__))

DFS = [1, 1.5, 2, 3, 4, 5, 7.25, 10, 30, 100, 1000, 9876.54321, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
       1e12, math.inf]
T_ABS = [0, 1e-8, 0.1, 0.5, 1, 1.96, 2.5, 3, 5, 8, 12, 20, 40]
TS = sorted(set(T_ABS) | {-t for t in T_ABS})
PS = [1e-300, 1e-100, 1e-20, 1e-10, 1e-5, 0.001, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9,
      0.95, 0.975, 0.99, 0.999, 1 - 1e-10]
KS = [1, 2, 3, 4, 7.5, 10, 50, 1000]
XS = [1e-6, 0.1, 0.5, 1, 2, 5, 10, 30, 100, 1000, 48571.698643]

# (distribution, df or k, function, argument): points where scipy 1.17.1 is wrong, found by the
# mpmath check below. They are excluded rather than loosening the tolerance for everything.
SCIPY_WRONG = {
    # t(1).cdf(1e-8) should be 1/2 + atan(1e-8)/pi = 0.50000000318309886; scipy gives
    # 0.5000000047431870 (3e-9 relative), and the same error at -1e-8 and in sf.
    ("t", 1, "cdf", 1e-8): "scipy off by 3e-9 relative (exact: 1/2 + atan(t)/pi)",
    ("t", 1, "cdf", -1e-8): "scipy off by 3e-9 relative (exact: 1/2 + atan(t)/pi)",
    ("t", 1, "sf", 1e-8): "scipy off by 3e-9 relative (exact: 1/2 - atan(t)/pi)",
    ("t", 1, "sf", -1e-8): "scipy off by 3e-9 relative (exact: 1/2 - atan(t)/pi)",
}
# Quantiles at p = 1e-300 (lower tail for ppf, upper tail for isf) are wrong for these df:
# scipy returns -inf/+inf with the wrong sign (df 3, 5, 7.25, 10) or 8.2e153 instead of
# 5.2e199 (df 1.5).
for _df in [1.5, 3, 5, 7.25, 10]:
    for _fn in ["ppf", "isf"]:
        SCIPY_WRONG[("t", _df, _fn, 1e-300)] = "scipy wrong at p = 1e-300 (inf or off by 1e46)"

try:
    import mpmath as mp
    mp.mp.dps = 50
except ImportError:  # the check is optional
    mp = None


def mp_t_sf(t, df):
    """P(T > t) with 50 digits: 1/2 I_x(df/2, 1/2), x = df/(df + t^2), for t > 0."""
    t = mp.mpf(t)
    if df == math.inf:
        return mp.ncdf(-t)
    if t == 0:
        return mp.mpf(1) / 2
    if t < 0:
        return 1 - mp_t_sf(-t, df)
    nu = mp.mpf(df)
    return mp.betainc(nu / 2, mp.mpf(1) / 2, 0, nu / (nu + t * t), regularized=True) / 2


def mp_t_pdf(t, df):
    t = mp.mpf(t)
    if df == math.inf:
        return mp.npdf(t)
    nu = mp.mpf(df)
    return mp.exp(mp.loggamma((nu + 1) / 2) - mp.loggamma(nu / 2) - mp.log(nu * mp.pi) / 2
                  - (nu + 1) / 2 * mp.log1p(t * t / nu))


def mp_t_isf(q, df, start):
    """The t > 0 with P(T > t) = q < 1/2, by Newton's method on ln sf(e^s)."""
    q = mp.mpf(q)
    if not (math.isfinite(start) and start > 0):
        nu = mp.mpf(df)
        k = mp.exp(mp.loggamma((nu + 1) / 2) - mp.loggamma(nu / 2)) / mp.sqrt(nu * mp.pi)
        start = (k * nu ** ((nu - 1) / 2) / q) ** (1 / nu)  # power-law tail
    s = mp.log(mp.mpf(start))
    for _ in range(200):
        t = mp.exp(s)
        sf = mp_t_sf(t, df)
        step = (mp.log(sf) - mp.log(q)) * sf / (t * mp_t_pdf(t, df))
        s += step
        if abs(step) < mp.mpf(10) ** -32:
            return mp.exp(s)
    raise RuntimeError(f"mpmath t quantile did not converge: df={df} q={q}")


def mp_t_ppf(p, df, scipy_isf_of_tail):
    """Quantile of the double p; the tail probability min(p, 1 - p) is exact in floating point."""
    if p == 0.5:
        return mp.mpf(0)
    if p < 0.5:
        return -mp_t_isf(p, df, scipy_isf_of_tail)
    return mp_t_isf(1 - mp.mpf(p), df, scipy_isf_of_tail)


WORST = {}


def check(kind, param, fn, arg, value, exact):
    """Stop unless scipy's value is within 2e-13 of mpmath's (relative; absolute 1e-16 for
    quantiles within 1e-3 of zero, near p = 1/2)."""
    if mp is None:
        return
    exact = mp.mpf(exact)
    quantile = fn in ("ppf", "isf")
    if quantile and abs(exact) < 1e-3:
        err = abs(value - exact) * 2000  # 1e-16 absolute counts as 2e-13
    else:
        err = abs((value - exact) / exact)
    WORST[(kind, fn)] = max(WORST.get((kind, fn), 0.0), float(err))
    if err > 2e-13:
        raise SystemExit(f"scipy disagrees with mpmath: {kind} {param} {fn}({arg!r}) = {value!r},"
                         f" mpmath {mp.nstr(exact, 20)} (error {float(err):.2e});"
                         " add the point to SCIPY_WRONG if scipy is the one that is wrong")


def dumps(value, indent=0):
    """JSON with every [argument, value] pair on one line; floats as repr (shortest round trip)."""
    pad = " " * indent
    if isinstance(value, dict):
        items = [f"{pad} {json.dumps(k)}: {dumps(v, indent + 1).lstrip()}"
                 for k, v in value.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and value and all(isinstance(v, (dict, list)) for v in value):
        return pad + "[\n" + ",\n".join(dumps(v, indent + 1) for v in value) + "\n" + pad + "]"
    return pad + json.dumps(value, allow_nan=False)


def usable(value):
    return math.isfinite(value) and (value == 0.0 or abs(value) >= 1e-300)


def main():
    excluded = []

    def keep(kind, param, fn, arg, value):
        reason = SCIPY_WRONG.get((kind, param, fn, arg))
        if reason is not None:
            excluded.append({"distribution": kind, "parameter": param, "function": fn,
                             "argument": arg, "scipy": repr(value), "reason": reason})
            return False
        return True

    t_cases = []
    for df in DFS:
        dist = st.norm() if df == math.inf else st.t(df)
        case = {"df": "inf" if df == math.inf else df, "cdf": [], "sf": [], "ppf": [], "isf": []}
        for t in TS:
            values = {"cdf": float(dist.cdf(t)), "sf": float(dist.sf(t))}
            for fn, value in values.items():
                if not keep("t", df, fn, t, value) or value == 0.0 or not usable(value):
                    continue
                if mp is not None:
                    exact = mp_t_sf(t, df) if fn == "sf" else mp_t_sf(-t, df)
                    check("t", df, fn, t, value, exact)
                case[fn].append([t, value])
        for p in PS:
            tail = min(p, 1 - p)
            scipy_start = float(dist.isf(tail))
            exact = mp_t_ppf(p, df, scipy_start) if mp is not None else None
            for fn, value, sign in [("ppf", float(dist.ppf(p)), 1),
                                    ("isf", float(dist.isf(p)), -1)]:
                if not keep("t", df, fn, p, value) or not usable(value):
                    continue
                if exact is not None:
                    check("t", df, fn, p, value, sign * exact)
                case[fn].append([p, value])
        t_cases.append(case)

    # The standard normal on its own: the t grid's arguments plus the far tail.
    normal = {"cdf": [], "sf": [], "ppf": [], "isf": []}
    xs = sorted(set(TS) | {-37.0, 37.0, -3.7, 3.7, -0.2, 0.2})
    for x in xs:
        for fn, value, exact in [("cdf", float(st.norm.cdf(x)), lambda: mp.ncdf(x)),
                                 ("sf", float(st.norm.sf(x)), lambda: mp.ncdf(-x))]:
            if value == 0.0 or not usable(value):
                continue
            if mp is not None:
                check("norm", None, fn, x, value, exact())
            normal[fn].append([x, value])
    for p in PS + [5e-300, 0.2, 0.4, 0.49]:
        exact = mp_t_ppf(p, math.inf, float(st.norm.isf(min(p, 1 - p)))) if mp else None
        for fn, value, sign in [("ppf", float(st.norm.ppf(p)), 1),
                                ("isf", float(st.norm.isf(p)), -1)]:
            if not usable(value):
                continue
            if exact is not None:
                check("norm", None, fn, p, value, sign * exact)
            normal[fn].append([p, value])

    chi2_cases = []
    for k in KS:
        case = {"k": k, "cdf": [], "sf": []}
        for x in XS:
            for fn, value in [("cdf", float(st.chi2.cdf(x, k))), ("sf", float(st.chi2.sf(x, k)))]:
                if not keep("chi2", k, fn, x, value) or value == 0.0 or not usable(value):
                    continue
                if mp is not None:
                    a, half = mp.mpf(k) / 2, mp.mpf(x) / 2
                    exact = (mp.gammainc(a, 0, half, regularized=True) if fn == "cdf"
                             else mp.gammainc(a, half, mp.inf, regularized=True))
                    check("chi2", k, fn, x, value, exact)
                case[fn].append([x, value])
        chi2_cases.append(case)

    out = {
        "generator": "tests/reference/make_distributions.py",
        "scipy_version": scipy.__version__,
        "numpy_version": np.__version__,
        "checked_with_mpmath": None if mp is None else mp.__version__,
        "note": "[argument, value] pairs; t df 'inf' is the standard normal (scipy.stats.norm)",
        "normal": normal,
        "t": t_cases,
        "chi2": chi2_cases,
        "excluded": excluded,
    }
    path = os.path.join(HERE, "distributions.json")
    text = dumps(out) + "\n"
    with open(path, "w") as f:
        f.write(text)
    n = sum(len(c[fn]) for c in t_cases for fn in ("cdf", "sf", "ppf", "isf"))
    n += sum(len(v) for v in normal.values())
    n += sum(len(c["cdf"]) + len(c["sf"]) for c in chi2_cases)
    print(f"wrote {path}: {n} values, {len(excluded)} excluded, scipy {scipy.__version__}")
    for (kind, fn), err in sorted(WORST.items()):
        print(f"  largest error of scipy against mpmath: {kind} {fn} {err:.1e}")


if __name__ == "__main__":
    main()
