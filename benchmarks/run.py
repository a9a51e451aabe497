#!/usr/bin/env python3
"""fastcausal against the engines a user would pick instead, on the same Parquet files.

Every measurement is one fresh process, as a user would run it: the `fastcausal` binary on the
file, or a Python process that imports DuckDB or chdb (ClickHouse) and runs the same statistic
(the peers compute moments in SQL and finish in Python). Times are wall-clock medians of
several runs; for the peers the clock starts after `import` (their in-notebook cost), for
fastcausal it covers the whole process. Peak memory is each process's maximum resident set.

    pip install duckdb chdb pyarrow
    python3 benchmarks/run.py                 # 1M and 10M rows, 5 runs each
    python3 benchmarks/run.py --rows 1000000 --runs 3

Writes docs/benchmarks.md and benchmarks/results/latest.json.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, 'benchmarks', 'data')
BIN = os.path.join(ROOT, 'target', 'release', 'fastcausal')

# Each task: fastcausal SQL, and for each peer a Python snippet that sets `result`.
# `{path}` is the Parquet file.
TASKS = {
    'per-arm count, mean, variance': {
        'fastcausal': "SELECT treatment, count(*) AS n, avg(numerator) AS mean, var_samp(numerator) AS var "
                      "FROM '{path}' GROUP BY treatment ORDER BY treatment",
        'duckdb': """
rows = duckdb.sql("SELECT treatment, count(*), avg(numerator), var_samp(numerator) FROM read_parquet('{path}') GROUP BY treatment ORDER BY treatment").fetchall()
result = [[float(v) for v in r] for r in rows]
""",
        'chdb': """
rows = chdb.query("SELECT treatment, count(), avg(numerator), varSamp(numerator) FROM file('{path}', Parquet) GROUP BY treatment ORDER BY treatment", 'JSONCompact').data()
result = [[float(v) for v in r] for r in json.loads(rows)['data']]
""",
    },
    'per-arm delta-method ratio std error': {
        'fastcausal': "SELECT treatment, deltamethod(avg(numerator) / avg(denominator)) AS se "
                      "FROM '{path}' GROUP BY treatment ORDER BY treatment",
        'duckdb': """
rows = duckdb.sql("SELECT treatment, count(*), avg(numerator), avg(denominator), var_samp(numerator), var_samp(denominator), covar_samp(numerator, denominator) FROM read_parquet('{path}') GROUP BY treatment ORDER BY treatment").fetchall()
result = [[float(t), delta(*map(float, r))] for t, *r in rows]
""",
        'chdb': """
rows = chdb.query("SELECT treatment, count(), avg(numerator), avg(denominator), varSamp(numerator), varSamp(denominator), covarSamp(numerator, denominator) FROM file('{path}', Parquet) GROUP BY treatment ORDER BY treatment", 'JSONCompact').data()
result = [[float(t), delta(*map(float, r))] for t, *r in json.loads(rows)['data']]
""",
    },
}

PEER_PRELUDE = {
    'duckdb': 'import duckdb',
    'chdb': 'import chdb',
}

DELTA = """
def delta(n, mx, my, vxx, vyy, vxy):
    gx, gy = 1 / my, -mx / my ** 2
    return ((gx * gx * vxx + 2 * gx * gy * vxy + gy * gy * vyy) / n) ** 0.5
"""


def run_process(cmd):
    """Runs cmd; returns (stdout, wall seconds, peak RSS in MiB)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    wall = time.perf_counter() - start
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {err.decode()[-2000:]}")
    return out.decode(), wall, err.decode()


def timed(cmd):
    """Runs cmd under /usr/bin/time; returns (stdout, wall s, peak MiB, stderr-without-time)."""
    out, wall, err = run_process(['/usr/bin/time', '-f', '__PEAK_KB__=%M'] + cmd)
    peak_kb = 0
    rest = []
    for line in err.splitlines():
        if line.startswith('__PEAK_KB__='):
            peak_kb = int(line.split('=')[1])
        else:
            rest.append(line)
    return out, wall, peak_kb / 1024, '\n'.join(rest)


def run_fastcausal(sql):
    out, wall, peak, _ = timed([BIN, 'sql', sql, '--format', 'json'])
    rows = json.loads(out)
    return [[float(v) for v in r.values()] for r in rows], wall, peak


def run_peer(peer, snippet):
    program = textwrap.dedent(f"""
        import json, sys, time
        {PEER_PRELUDE[peer]}
        {DELTA.strip().replace(chr(10), chr(10) + '        ')}
        t0 = time.perf_counter()
        {textwrap.indent(snippet.strip(), '        ').strip()}
        elapsed = time.perf_counter() - t0
        print(json.dumps({{'result': result, 'seconds': elapsed}}))
    """)
    out, _wall, peak, _ = timed([sys.executable, '-c', program])
    doc = json.loads(out.strip().splitlines()[-1])
    return doc['result'], doc['seconds'], peak


def close(a, b, rel=1e-9):
    return len(a) == len(b) and all(
        len(x) == len(y) and all(abs(u - v) <= rel * max(abs(u), abs(v), 1e-300) for u, v in zip(x, y))
        for x, y in zip(a, b))


def ensure_data(rows):
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, f'data_{rows}.parquet')
    if not os.path.exists(path):
        print(f'generating {path}', flush=True)
        subprocess.run([BIN, 'gen-data', '--rows', str(rows), '--seed', '0', '--out', path], check=True)
    return path


def machine():
    cpu = 'unknown CPU'
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2 ** 30
    return f'{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}'


def versions():
    v = {}
    for mod in ('duckdb', 'chdb'):
        try:
            m = __import__(mod)
            v[mod] = getattr(m, '__version__', '?')
        except ImportError:
            v[mod] = None
    v['fastcausal'] = subprocess.run([BIN, '--version'], capture_output=True, text=True).stdout.strip()
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rows', type=int, nargs='*', default=[1_000_000, 10_000_000])
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--tasks', nargs='*', default=list(TASKS))
    ap.add_argument('--no-build', action='store_true')
    args = ap.parse_args()

    if not args.no_build:
        subprocess.run(['cargo', 'build', '--release', '-p', 'fastcausal-cli'], cwd=ROOT, check=True)
    ver = versions()
    peers = [p for p in PEER_PRELUDE if ver.get(p)]
    missing = [p for p in PEER_PRELUDE if not ver.get(p)]
    if missing:
        print(f'warning: not installed, skipped: {missing} (pip install duckdb chdb)', file=sys.stderr)

    results = []
    for rows in args.rows:
        path = ensure_data(rows)
        for task in args.tasks:
            spec = TASKS[task]
            entry = {'task': task, 'rows': rows, 'engines': {}}
            sql = spec['fastcausal'].format(path=path)
            reference = None
            for engine in ['fastcausal'] + peers:
                times, peaks = [], []
                for _ in range(args.runs):
                    if engine == 'fastcausal':
                        res, secs, peak = run_fastcausal(sql)
                    else:
                        res, secs, peak = run_peer(engine, spec[engine].format(path=path))
                    times.append(secs)
                    peaks.append(peak)
                if reference is None:
                    reference = res
                agree = close(res, reference)
                entry['engines'][engine] = {
                    'median_s': statistics.median(times), 'times_s': times,
                    'peak_mib': max(peaks), 'agrees_with_fastcausal': agree,
                }
                print(f'{rows:>10} {task:<40} {engine:<10} {statistics.median(times):8.3f} s '
                      f'{max(peaks):8.0f} MiB{"" if agree else "  RESULTS DIFFER"}', flush=True)
            best_peer = min((entry['engines'][p]['median_s'], p) for p in peers) if peers else (None, None)
            entry['best_peer'] = best_peer[1]
            entry['ratio_to_best_peer'] = (entry['engines']['fastcausal']['median_s'] / best_peer[0]) if peers else None
            results.append(entry)

    os.makedirs(os.path.join(ROOT, 'benchmarks', 'results'), exist_ok=True)
    with open(os.path.join(ROOT, 'benchmarks', 'results', 'latest.json'), 'w') as f:
        json.dump({'machine': machine(), 'versions': ver, 'runs': args.runs, 'results': results}, f, indent=1)
    write_markdown(results, peers, ver, args)


def write_markdown(results, peers, ver, args):
    cmd = 'python3 benchmarks/run.py' + ('' if args.rows == [1_000_000, 10_000_000] else ' --rows ' + ' '.join(map(str, args.rows))) \
        + ('' if args.runs == 5 else f' --runs {args.runs}')
    lines = [
        '# Benchmarks', '',
        'Generated by `benchmarks/run.py`; do not edit by hand.', '',
        f'- Machine: {machine()}',
        f'- Command: `{cmd}`',
        f'- Versions: ' + ', '.join(f'{k} {v}' for k, v in ver.items() if v),
        f'- Date: {time.strftime("%Y-%m-%d")}',
        f'- Method: median of {args.runs} fresh processes per engine; fastcausal timed as the whole '
        '`fastcausal sql` process on the Parquet file, peers from after `import` to the finished '
        'statistic (moments in SQL, finished in Python). Peak memory is the process maximum RSS. '
        'Results are checked to agree with fastcausal to 1e-9 relative.', '',
    ]
    header = '| task | rows | fastcausal | ' + ' | '.join(peers) + ' | ratio to fastest peer | peak MiB (fastcausal / ' + ' / '.join(peers) + ') |'
    lines += [header, '|' + '---|' * (header.count('|') - 1)]
    for e in results:
        eng = e['engines']
        cells = [e['task'], f"{e['rows']:,}", f"{eng['fastcausal']['median_s']:.3f} s"]
        cells += [f"{eng[p]['median_s']:.3f} s" + ('' if eng[p]['agrees_with_fastcausal'] else ' (differs!)') for p in peers]
        cells.append(f"{e['ratio_to_best_peer']:.2f}× ({e['best_peer']})" if e['ratio_to_best_peer'] else '')
        cells.append(' / '.join(f"{eng[k]['peak_mib']:.0f}" for k in ['fastcausal'] + peers))
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', 'A ratio below 1 means fastcausal is faster than the fastest peer.', '']
    with open(os.path.join(ROOT, 'docs', 'benchmarks.md'), 'w') as f:
        f.write('\n'.join(lines))
    print('wrote docs/benchmarks.md')


if __name__ == '__main__':
    main()
