"""The Python API against the command line, and its pandas interop against pyarrow's own.

Used by run.py (which appends the section to docs/benchmarks.md); runnable alone:

    python3 benchmarks/python_api.py --rows 10000000 --runs 5

For each task of run.py: the CLI as run.py times it (the whole `fastcausal sql` process), and the
same SQL through `fastcausal` in one Python process, timed from a new session to the finished
Arrow table (the interpreter and the import are not counted: a notebook pays them once). Both
get one untimed warm-up run. Results are checked to agree. Then, on the 17-column data set:
`fc.from_pandas` against `pa.Table.from_pandas`, `to_pandas` from the engine against
pyarrow's `Table.to_pandas` (the conversion fastcausal uses, so the difference is the engine's
share), and a Parquet file read into pandas by each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

PYTHON_TASK = r"""
import json, sys, time
import fastcausal as fc
sql, runs = sys.argv[1], int(sys.argv[2])
times = []
for i in range(runs + 1):
    start = time.perf_counter()
    table = fc.Session().sql(sql).to_arrow()
    if i:
        times.append(time.perf_counter() - start)
rows = []
for row in table.to_pylist():
    flat = {}
    structs = [v for v in row.values() if isinstance(v, dict)]
    for k, v in row.items():
        if isinstance(v, dict) and len(structs) == 1:
            flat.update({f: x for f, x in v.items() if f not in row})
        else:
            flat[k] = v
    rows.append(flat)
print(json.dumps({"times": times, "rows": rows}))
"""

INTEROP = r"""
import json, sys, time, statistics
import pyarrow as pa, pyarrow.parquet as pq
import fastcausal as fc
path, runs = sys.argv[1], int(sys.argv[2])
table = pq.read_table(path)
frame = table.to_pandas()
def paired(name, ours, theirs):
    # Alternated run by run, so that both see the same state of the machine (its page cache, the
    # other processes), and each goes first in every other pair (the second of a pair allocates
    # where the first's result was just freed); the first pair is a warm-up.
    a, b = [], []
    for i in range(runs + 1):
        pair = ((theirs, b), (ours, a))
        for f, out in (pair if i % 2 else pair[::-1]):
            start = time.perf_counter(); f(); t = time.perf_counter() - start
            if i:
                out.append(t)
    result["pyarrow_" + name], result["fc_" + name] = statistics.median(b), statistics.median(a)
result = {"shape": [table.num_rows, table.num_columns]}
paired("from_pandas", lambda: fc.from_pandas(frame), lambda: pa.Table.from_pandas(frame, preserve_index=False))
paired("to_pandas", lambda: fc.from_arrow(table).to_pandas(), lambda: table.to_pandas())
paired("parquet_to_pandas", lambda: fc.read_parquet(path).to_pandas(), lambda: pq.read_table(path).to_pandas())
print(json.dumps(result))
"""


def python_rows(out, fields):
    data = json.loads(out)
    return [[bench.value(r.get(f)) for f in fields] for r in data["rows"]], data["times"]


def measure(path, runs, tasks):
    results = []
    for task in tasks:
        spec = bench.TASKS[task]
        sql = spec['fastcausal'].format(path=path)
        cli_times = []
        for i in range(runs + 1):
            res, secs, _ = bench.run_fastcausal(sql, spec['fields'])
            if i:
                cli_times.append(secs)
        out = subprocess.run([sys.executable, '-c', PYTHON_TASK, sql, str(runs)], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f'{task}: the Python API failed: {out.stderr[-2000:]}')
        py_res, py_times = python_rows(out.stdout, spec['fields'])
        cli, py = statistics.median(cli_times), statistics.median(py_times)
        results.append({'task': task, 'cli_s': cli, 'python_s': py, 'ratio': py / cli,
                        'agree': bench.close(py_res, res), 'cli_times_s': cli_times, 'python_times_s': py_times})
        print(f'  python API {task:<45} cli {cli:.3f} s  python {py:.3f} s  {py / cli:.2f}×', flush=True)
    out = subprocess.run([sys.executable, '-c', INTEROP, path, str(runs)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f'interop benchmark failed: {out.stderr[-2000:]}')
    interop = json.loads(out.stdout)
    print(f'  interop {interop}', flush=True)
    return results, interop


def markdown(rows, results, interop):
    lines = [
        '', f'## Python API ({rows:,} rows)', '',
        'The same SQL through `fastcausal` in Python (one process; from a new session to the finished '
        'Arrow table, after one warm-up run; the interpreter and the import not counted) against the '
        '`fastcausal sql` process above. Goal: within 10% (ratio ≤ 1.10).', '',
        '| task | CLI | Python | ratio | agree |', '|---|---|---|---|---|',
    ]
    for r in results:
        lines.append(f"| {r['task']} | {r['cli_s']:.3f} s | {r['python_s']:.3f} s | {r['ratio']:.2f}× | "
                     f"{'yes' if r['agree'] else 'NO'} |")
    n, c = interop['shape']
    lines += [
        '', f'pandas interop, {n:,} rows × {c} columns (median of the runs, pyarrow and fastcausal alternated, each first in every other pair, after a warm-up pair): goal, no slower '
        'than pyarrow’s own conversion.', '',
        '| conversion | pyarrow | fastcausal | ratio |', '|---|---|---|---|',
        f"| from pandas | {interop['pyarrow_from_pandas']:.3f} s (`pa.Table.from_pandas`) | "
        f"{interop['fc_from_pandas']:.3f} s (`fc.from_pandas`) | "
        f"{interop['fc_from_pandas'] / interop['pyarrow_from_pandas']:.2f}× |",
        f"| to pandas | {interop['pyarrow_to_pandas']:.3f} s (`Table.to_pandas`) | "
        f"{interop['fc_to_pandas']:.3f} s (`fc.from_arrow(t).to_pandas()`) | "
        f"{interop['fc_to_pandas'] / interop['pyarrow_to_pandas']:.2f}× |",
        f"| Parquet file to pandas | {interop['pyarrow_parquet_to_pandas']:.3f} s (`pq.read_table(p).to_pandas()`) | "
        f"{interop['fc_parquet_to_pandas']:.3f} s (`fc.read_parquet(p).to_pandas()`) | "
        f"{interop['fc_parquet_to_pandas'] / interop['pyarrow_parquet_to_pandas']:.2f}× |",
    ]
    return '\n'.join(lines) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rows', type=int, default=10_000_000)
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--tasks', nargs='*', default=list(bench.TASKS), choices=list(bench.TASKS))
    args = ap.parse_args()
    path = bench.ensure_data(args.rows)
    results, interop = measure(path, args.runs, args.tasks)
    print(markdown(args.rows, results, interop))


if __name__ == '__main__':
    main()
