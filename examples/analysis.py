"""The seed analysis of an A/B test in Python: generate FCI's data set, look at it, test the
ratio metric with and without CUPED, per segment, and fit the regression-adjusted effect.

Run: python examples/analysis.py (after `pip install .`)."""

import subprocess
import sys
import tempfile
from pathlib import Path

import fastcausal as fc

ROOT = Path(__file__).resolve().parents[1]

with tempfile.TemporaryDirectory() as tmp:
    data = Path(tmp) / "ab.parquet"
    # The design document's data set (seed 0), written by the command line's generator.
    binary = ROOT / "target" / "release" / "fastcausal"
    command = [str(binary)] if binary.exists() else ["cargo", "run", "--release", "-q", "--bin", "fastcausal", "--"]
    subprocess.run(command + ["gen-data", "--rows", "100000", "--seed", "0", "--out", str(data)], check=True, cwd=ROOT)

    df = fc.read_parquet(data)
    print(df)
    print(df.select("numerator", "denominator", "numerator_pre", "x1", "treatment").describe().to_string(index=False))

    ratio = "avg(numerator) / avg(denominator)"
    plain = df.ttest_2samp(ratio, "treatment")
    cuped = df.ttest_2samp(ratio, "treatment", cuped="avg(numerator_pre) / avg(denominator_pre)")
    print(f"\nratio metric: effect {plain.estimate:.4f} ± {plain.stderr:.4f} (p = {plain.p_value:.3g})")
    print(f"with CUPED:   effect {cuped.estimate:.4f} ± {cuped.stderr:.4f}, "
          f"variance reduced by {cuped.variance_reduction:.1%}")

    print("\nper x_cat1 segment:")
    print(df.group_by("x_cat1").ttest_2samp(ratio, "treatment").to_pandas()[
        ["x_cat1", "n0", "n1", "estimate", "stderr", "p_value"]].to_string(index=False))

    print(f"\nsample ratio mismatch p = {df.srm('1', 'treatment').p_value:.3f}")
    model = df.ols("y ~ treatment + x1 + x2 + x3", cov="HC1")
    print()
    print(model.summary())
