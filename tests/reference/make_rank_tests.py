#!/usr/bin/env python3
"""Reference values for the rank tests (Mann-Whitney U and two-sample Kolmogorov-Smirnov).

Computes, with the installed scipy, ``scipy.stats.mannwhitneyu(x, y, method='auto')`` and
``scipy.stats.ks_2samp(x, y, method='auto')`` with x = treatment and y = control, for every
alternative (and continuity on/off for Mann-Whitney), plus grids of the distribution functions
the KS p-values come from, and writes them to ``rank_tests.json`` next to this script.

Samples:

* small and medium samples are drawn with numpy (seeded) and stored in the JSON (rounded to
  6 decimals where they are large, which keeps the file small and only adds a few ties);
* large samples (up to 2.2 million values per arm) are not stored: they come from a
  splitmix64 stream that the Rust test re-implements bit for bit (``splitmix_sample`` below):
  value = (z >> 11) * 2^-53 (a uniform double in [0, 1)), then ``floor(value * levels)`` for
  tied integer data, then ``+ shift``.

Grids (arguments stored as the u64 bit patterns of the doubles, so they are read back exactly):

* ``kstwo_sf``: scipy.stats.kstwo.sf(d, n) for n = 1 … 1e8 across every branch of scipy's
  algorithm choice (Ruben-Gambino, Durbin/MTW, Pomeranz, Pelz-Good, 2*smirnov, tails);
* ``smirnov``: scipy.special.smirnov(n, x);
* ``binom``: scipy.special.binom(N, k) (bit patterns of the results: the one-sided exact KS
  p-value is reproduced operation by operation, so it needs binom to the last bit);
* ``normal_sf``: scipy.special.ndtr(-z) (bit patterns: reproduced to the last bit).

Statistics are also stored as bit patterns (``statistic_bits``), as they are compared exactly and
a JSON reader may round a decimal one unit in the last place differently from Python; so is the
KS location (``location_bits``), which the test uses for generated samples (for stored samples it
compares the decimal, read by the same reader as the samples themselves).

Run: ``python3 tests/reference/make_rank_tests.py`` (needs numpy and scipy).
"""

import json
import math
import os
import struct
import warnings

import numpy as np
import scipy
from scipy import special, stats

HERE = os.path.dirname(os.path.abspath(__file__))
ALTERNATIVES = ["two-sided", "less", "greater"]

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)


def bits(x):
    return struct.unpack("<Q", struct.pack("<d", float(x)))[0]


def splitmix_sample(seed, n, levels=0, shift=0.0):
    """n doubles from splitmix64 started at `seed` (see module doc; mirrored in the Rust test)."""
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(seed) + i * GOLDEN
        z = (z ^ (z >> np.uint64(30))) * M1
        z = (z ^ (z >> np.uint64(27))) * M2
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) * 2.0**-53
    if levels:
        u = np.floor(u * levels)
    return u + shift


def finite_or_none(v):
    v = float(v)
    return v if math.isfinite(v) else None


def mwu_cases(x, y):
    out = []
    for continuity in (True, False):
        for alt in ALTERNATIVES:
            r = stats.mannwhitneyu(x, y, use_continuity=continuity, alternative=alt, method="auto")
            out.append({"alternative": alt, "continuity": continuity,
                        "statistic": float(r.statistic), "pvalue": finite_or_none(r.pvalue)})
    # Decimal numbers in JSON may be read back one unit in the last place off by some parsers;
    # the statistics are compared exactly, so their bit patterns are stored too.
    for o in out:
        o["statistic_bits"] = bits(o["statistic"])
    return out


def ks_cases(x, y):
    out = []
    for alt in ALTERNATIVES:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            r = stats.ks_2samp(x, y, alternative=alt, method="auto")
        out.append({"alternative": alt, "statistic": float(r.statistic), "pvalue": float(r.pvalue),
                    "statistic_bits": bits(r.statistic), "location_bits": bits(r.statistic_location),
                    "location": float(r.statistic_location), "sign": int(r.statistic_sign),
                    "exact_failed": any("Exact calculation unsuccessful" in str(m.message) for m in w)})
    return out


def stored_case(name, x, y):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    return {"name": name, "treatment": x.tolist(), "control": y.tolist(),
            "mann_whitney": mwu_cases(x, y), "ks": ks_cases(x, y)}


def generated_case(name, n1, n0, seed, levels=0, shift=0.0, mwu=True):
    x = splitmix_sample(seed + 1, n1, levels, shift)
    y = splitmix_sample(seed, n0, levels, 0.0)
    case = {"name": name,
            "generate": {"seed": seed, "n_treatment": n1, "n_control": n0,
                         "levels": levels, "shift": shift},
            "treatment_head_bits": [bits(v) for v in x[:3]], "control_head_bits": [bits(v) for v in y[:3]],
            "ks": ks_cases(x, y)}
    if mwu:
        case["mann_whitney"] = mwu_cases(x, y)
    return case


def sample_cases():
    rng = np.random.default_rng(20261124)
    cases = [
        stored_case("hand: x=[1,2,3] y=[4,5]", [1, 2, 3], [4, 5]),
        stored_case("hand: disjoint reversed", [10, 11, 12, 13], [1, 2]),
        stored_case("one each", [2.5], [1.0]),
        stored_case("one each tied", [1.0], [1.0]),
        stored_case("tiny 3x5 no ties", rng.normal(size=3), rng.normal(size=5)),
        stored_case("tiny 8x8 no ties", rng.normal(size=8), rng.normal(size=8) + 0.5),
        stored_case("tiny 2x7 no ties", rng.normal(size=2), rng.normal(size=7)),
        stored_case("small 8x30 no ties", rng.normal(size=8) + 1.0, rng.normal(size=30)),
        stored_case("small 30x5 no ties", rng.normal(size=30), rng.normal(size=5)),
        stored_case("5x300 no ties", rng.normal(size=5) + 0.7, rng.normal(size=300)),
        stored_case("6x2000 no ties", rng.normal(size=6) - 0.3, rng.normal(size=2000)),
        stored_case("tiny 4x6 ties", rng.integers(0, 4, size=4), rng.integers(0, 4, size=6)),
        stored_case("tiny 7x3 ties", rng.integers(0, 3, size=7), rng.integers(0, 3, size=3)),
        stored_case("9x9 no ties", rng.normal(size=9), rng.normal(size=9) + 1.0),
        stored_case("40x55", rng.normal(size=40) + 0.3, rng.normal(size=55)),
        stored_case("100x100 shift", rng.normal(size=100) + 0.4, rng.normal(size=100)),
        stored_case("heavy ties 500x700", rng.integers(0, 5, size=500), rng.integers(0, 5, size=700)),
        stored_case("binary 300x250", rng.integers(0, 2, size=300), rng.integers(0, 2, size=250)),
        stored_case("almost all tied 60x70", np.r_[np.zeros(59), 1.0], np.zeros(70)),
        stored_case("identical", np.full(5, 3.0), np.full(7, 3.0)),
        stored_case("negative and zero", np.r_[-0.0, -1.5, 2.0, 0.0], np.r_[0.0, -2.0, 1.0]),
        stored_case("30x50", np.round(rng.normal(size=30), 6), np.round(rng.normal(size=50), 6)),
        stored_case("200x330", np.round(rng.normal(size=200) + 0.15, 6), np.round(rng.normal(size=330), 6)),
        stored_case("300x500", np.round(rng.normal(size=300) + 0.1, 6), np.round(rng.normal(size=500), 6)),
        stored_case("300x500 strong", np.round(rng.normal(size=300) + 0.6, 6), np.round(rng.normal(size=500), 6)),
        stored_case("400x400 square", np.round(rng.normal(size=400) + 0.1, 6), np.round(rng.normal(size=400), 6)),
        stored_case("517x611 one-sided exact overflows", np.round(rng.normal(size=517) - 0.1, 6),
                    np.round(rng.normal(size=611), 6)),
        stored_case("10x3000", np.round(rng.normal(size=10) + 0.5, 6), np.round(rng.normal(size=3000), 6)),
        stored_case("4906x5094", np.round(rng.normal(size=4906) + 0.03, 6), np.round(rng.normal(size=5094), 6)),
        stored_case("5000x5000 square", np.round(rng.normal(size=5000) + 0.05, 6),
                    np.round(rng.normal(size=5000), 6)),
        stored_case("int ties 2000x1500", rng.integers(0, 20, size=2000), rng.integers(0, 20, size=1500)),
    ]
    cases += [
        generated_case("gen 12000x15000", 12000, 15000, seed=11, shift=0.01),
        generated_case("gen 12000x15000 null", 12000, 15000, seed=12),
        generated_case("gen 15000x12000 strong", 15000, 12000, seed=13, shift=0.05),
        generated_case("gen 3x12000", 3, 12000, seed=14, shift=0.1),
        generated_case("gen 12000x7", 12000, 7, seed=15),
        generated_case("gen 20x12000", 20, 12000, seed=16, shift=0.2),
        generated_case("gen 100x20000", 100, 20000, seed=17, shift=0.1),
        generated_case("gen 150x11000", 150, 11000, seed=18),
        generated_case("gen 400x10500", 400, 10500, seed=19, shift=0.03),
        generated_case("gen 3000x11000", 3000, 11000, seed=20, shift=0.02),
        generated_case("gen ties 30000x25000", 30000, 25000, seed=21, levels=12),
        generated_case("gen 600000x600000", 600000, 600000, seed=22, shift=0.001),
        generated_case("gen 600000x600000 null", 600000, 600000, seed=23),
        generated_case("gen 2200000x2200000", 2200000, 2200000, seed=24, shift=0.0015),
    ]
    return cases


def kstwo_grid():
    ns = [1, 2, 3, 4, 5, 7, 10, 17, 50, 99, 100, 140, 141, 200, 500, 1000, 5000, 6667, 10000,
          50000, 99999, 100000, 100001, 300000, 1000000, 1000001, 2500000, 10**7, 10**8]
    rows = []
    for n in ns:
        ds = set()
        for c in [0.05, 0.2, 0.5, 0.754, 0.76, 1.0, 1.5, 2.0, 2.19, 2.21, 3.0, 3.99, 4.01, 6.0,
                  10.0, 17.9, 18.1, 30.0, 100.0, 200.0, 369.0, 371.0]:
            d = math.sqrt(c / n)
            # 2*smirnov(n, d) for 1e5 <= n <= 1e6 sums O(n) double-double terms (seconds at
            # n = 1e6, in scipy as here): one such point per n below 1e6 keeps the test fast (the
            # smirnov grid has one at n = 1e6).
            expensive = 99999 <= n <= 10**6 and 2.2 <= c < 370
            if d < 1 and (not expensive or (c == 2.21 and n < 10**6)):
                ds.add(d)
        for k in [0.4, 0.5, 0.51, 0.75, 1.0, 1.5, 2.0, 3.5, n / 4.0, n / 2.0, n - 1.5, n - 1.0, n - 0.5]:
            d = k / n
            if 0 < d < 1.0:
                ds.add(d)
        # the Durbin-matrix / Pelz-Good switch n * d**1.5 <= 1.4
        d = (1.4 / n) ** (2.0 / 3.0)
        for f in (0.9, 0.999, 1.001, 1.1):
            if d * f < 1:
                ds.add(d * f)
        ds.update([0.3, 0.5, 0.7, 0.99, 1.0, 0.0])
        for d in sorted(ds):
            rows.append([n, bits(d), float(stats.kstwo.sf(d, n))])
    return rows


def smirnov_grid():
    rows = []
    for n in [1, 2, 5, 10, 11, 100, 141, 1000, 6667, 10**5, 10**6, 10**6 + 1, 10**7]:
        for x in [0.0, 0.5 / n, 1.0 / n, 1.5 / n, 0.01, 0.05, math.sqrt(1.1 / n), math.sqrt(2.2 / n),
                  math.sqrt(5.0 / n), math.sqrt(50.0 / n), math.sqrt(180.0 / n), 0.2, 0.5, 0.9,
                  1 - 1.0 / n, 1 - 0.5 / n, 1.0]:
            expensive = 10**5 <= n <= 10**6 and 1.0 / n < x < 0.5 and n * x * x < 370
            if 0 <= x <= 1 and (not expensive or x == math.sqrt(5.0 / n)):
                rows.append([n, bits(x), float(special.smirnov(n, x))])
    return rows


def binom_grid():
    rows = []
    for N in [0, 1, 2, 5, 10, 19, 20, 21, 39, 40, 41, 60, 100, 170, 171, 172, 200, 345, 500, 1000,
              1031, 1500, 3000, 10010, 20000]:
        for k in sorted({0, 1, 2, 3, 10, 19, 20, 21, 25, 50, 85, 86, 100, 170, 250, 500, 515, 600,
                         1000, N // 3, N // 2, N - 1, N - 20, N}):
            if 0 <= k <= N:
                rows.append([N, k, bits(special.binom(N, k))])
    return rows


def normal_grid():
    zs = [-40.0, -8.5, -5.0, -1.0, -0.3, 0.0, 1e-8, 0.2, 0.7071, 0.8, 1.0, 1.96, 2.5, 3.0, 5.0,
          7.5, 10.0, 15.0, 20.0, 26.0, 30.0, 35.0, 37.5]
    return [[bits(z), bits(special.ndtr(-z))] for z in zs]


def main():
    out = {
        "scipy_version": scipy.__version__,
        "numpy_version": np.__version__,
        "note": "x = treatment, y = control: mannwhitneyu(x, y, method='auto'), ks_2samp(x, y, method='auto')",
        "cases": sample_cases(),
        "kstwo_sf": kstwo_grid(),
        "smirnov": smirnov_grid(),
        "binom": binom_grid(),
        "normal_sf": normal_grid(),
    }
    path = os.path.join(HERE, "rank_tests.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
