"""DataFrame operations, interop round trips with pandas, polars and pyarrow, files and the
warehouse. Expected values are hand-computed on the small frames written here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fastcausal as fc

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def people() -> pa.Table:
    return pa.table({
        "id": pa.array([1, 2, 3, 4, 5], pa.int64()),
        "name": pa.array(["ann", "bob", None, "dan", "émile"], pa.string()),
        "score": pa.array([1.5, None, 3.0, 4.5, 6.0], pa.float64()),
        "group": pa.array(["a", "b", "a", "b", "a"], pa.string()),
    })


def test_arrow_round_trip_keeps_types_nulls_and_strings(people):
    df = fc.from_arrow(people)
    assert df.columns == ["id", "name", "score", "group"]
    assert df.dtypes == {"id": pa.int64(), "name": pa.string(), "score": pa.float64(), "group": pa.string()}
    assert df.to_arrow().equals(people)
    assert pa.table(df).equals(people)  # the PyCapsule stream interface
    assert df.count() == 5 and len(df) == 5


def test_pandas_round_trip(people):
    pdf = people.to_pandas()
    back = fc.from_pandas(pdf).to_pandas()
    assert back.equals(pdf)
    assert back["name"].isna().tolist() == [False, False, True, False, False]


def test_polars_round_trip(people):
    import polars as pl

    pdf = pl.from_arrow(people)
    back = fc.from_polars(pdf).to_polars()
    assert back.equals(pdf)
    assert back["score"].null_count() == 1


def test_large_frames_keep_their_order_and_cross_in_large_batches(tmp_path):
    # 400,000 rows in one batch: sliced (not copied) into 2 runs of 200,000 consecutive rows,
    # each cut at 131,072 rows (the crossing's batch size), and read back run after run.
    s = fc.connect()
    s.sql("SET datafusion.execution.target_partitions = 2")
    n = 400_000
    table = pa.table({"id": pa.array(range(n), pa.int64()), "x": pa.array([i * 0.5 for i in range(n)])})
    df = s.from_arrow(table)
    back = df.to_arrow()
    assert back.equals(table)
    assert [len(b) for b in back.to_batches()] == [131_072, 68_928, 131_072, 68_928]
    assert df.filter("id % 3 = 0").to_pandas()["id"].tolist() == list(range(0, n, 3))
    assert df.with_column("y", "x * 2").to_pandas()["y"].tolist()[-2:] == [(n - 2) * 1.0, (n - 1) * 1.0]
    # A small table in several batches is one batch (one partition), so it keeps its order too.
    small = pa.Table.from_batches(table.slice(0, 20_000).to_batches(max_chunksize=1000))
    odd = s.from_arrow(small).filter("id % 2 = 1").to_arrow()
    assert odd.column("id").to_pylist() == list(range(1, 20_000, 2)) and odd.column("id").num_chunks == 1
    # Batches that come in smaller stay as they are (they are not copied together).
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=50_000))
    assert [len(b) for b in s.from_arrow(chunked).to_arrow().to_batches()] == [50_000] * 8
    # head and limit take the first rows, every time (not the first rows some core delivers).
    for _ in range(10):
        assert df.head(3)["id"].tolist() == [0, 1, 2]
        assert df.filter("id % 7 = 3").limit(2, offset=1).to_arrow().column("id").to_pylist() == [10, 17]
        assert df.filter("id >= 250000").head(1)["id"].tolist() == [250_000]
    # Written files keep the order; a one-file read (one partition, several row groups) too.
    assert df.write_parquet(tmp_path / "big.parquet") == n
    assert pq.read_table(tmp_path / "big.parquet").equals(table)
    pq.write_table(table, tmp_path / "groups.parquet", row_group_size=30_000)
    one_file = s.read_parquet(tmp_path / "groups.parquet")
    for _ in range(5):  # DataFusion lets idle partitions steal row groups; reads here must not
        assert one_file.filter("id % 5 = 0").to_arrow().column("id").to_pylist() == list(range(0, n, 5))
    # to_pandas passes its options to pyarrow.
    import pandas as pd

    assert isinstance(df.limit(3).to_pandas(types_mapper=pd.ArrowDtype)["id"].dtype, pd.ArrowDtype)


def test_operations(people):
    df = fc.from_arrow(people)
    assert df.filter("score > 2").select("id").to_arrow().column("id").to_pylist() == [3, 4, 5]
    assert df.where("name IS NULL").count() == 1
    added = df.with_column("double", "score * 2")
    assert added.columns[-1] == "double" and added.to_arrow().column("double").to_pylist() == [3.0, None, 6.0, 9.0, 12.0]
    replaced = df.with_column("score", "coalesce(score, 0)")
    assert replaced.columns == df.columns and replaced.to_arrow().column("score").to_pylist()[1] == 0.0
    assert df.with_column_renamed("score", "points").columns == ["id", "name", "points", "group"]
    assert df.drop("name", "group").columns == ["id", "score"]
    assert df.order_by("score DESC NULLS LAST").limit(2).to_arrow().column("id").to_pylist() == [5, 4]
    assert df.limit(2, offset=3).to_arrow().column("id").to_pylist() == [4, 5]
    agg = df.group_by('"group"').agg("count(*) AS n", "sum(score) AS total").to_arrow().to_pylist()
    # a: scores 1.5, 3.0, 6.0; b: None and 4.5.
    assert agg == [{"group": "a", "n": 3, "total": 10.5}, {"group": "b", "n": 2, "total": 4.5}]
    assert df.union(df).count() == 10 and df.union(df, distinct=True).count() == 5
    other = fc.from_arrow(pa.table({"id": [1, 3, 9], "tag": ["x", "y", "z"]}))
    joined = df.join(other, on="id").order_by("id").to_arrow()
    assert joined.column_names == ["id", "name", "score", "group", "tag"]
    assert joined.column("tag").to_pylist() == ["x", "y"]
    assert df.join(other, on="id", how="left").count() == 5
    # l.id < r.id: none below r.id 1, ids 1–2 below 3, all 5 below 9.
    assert df.join(other, condition="l.id < r.id").count() == 7
    assert "Projection" in df.select("id").explain() or "projection" in df.select("id").explain().lower()


def test_errors_name_the_column(people):
    df = fc.from_arrow(people)
    with pytest.raises(fc.FastcausalError, match="did you mean 'score'"):
        df.drop("scor")
    with pytest.raises(fc.FastcausalError, match="scor"):
        df.select("scor").to_arrow()
    with pytest.raises(ValueError, match="exactly one"):
        df.join(df)


def test_files_and_describe(tmp_path, people):
    df = fc.from_arrow(people)
    assert df.write_parquet(tmp_path / "p.parquet") == 5
    assert pq.read_table(tmp_path / "p.parquet").equals(people)
    # DataFusion reads Parquet text as Arrow's string_view: the same values, another layout.
    read = fc.read_parquet(tmp_path / "p.parquet").to_arrow()
    assert read.schema.field("name").type == pa.string_view()
    assert read.cast(people.schema).equals(people)
    assert df.write_csv(tmp_path / "p.csv") == 5
    back = fc.read_csv(tmp_path / "p.csv").order_by("id").to_arrow()
    assert back.column("name").to_pylist() == ["ann", "bob", None, "dan", "émile"]
    (tmp_path / "p.txt").write_text("a;b\n1;2\n3;4\n")
    assert fc.read_csv(tmp_path / "p.txt", delimiter=";").to_arrow().to_pylist() == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    (tmp_path / "p.json").write_text('{"a": 1, "b": "x"}\n{"a": 2, "b": null}\n')
    assert fc.read_json(tmp_path / "p.json").count() == 2
    assert not list(tmp_path.glob(".fastcausal-*")), "no temporary file is left behind"
    summary = df.describe()
    score = summary[summary["column"] == "score"].iloc[0]
    # 1.5, 3.0, 4.5, 6.0: mean 3.75, 4 of 5 non-null.
    assert score["mean"] == 3.75 and score["count"] == 4


def test_warehouse_tables_and_sql(tmp_path, people):
    s = fc.connect(warehouse=tmp_path / "wh")
    pq.write_table(people, tmp_path / "people.parquet")
    s.sql(f"CREATE TABLE t AS SELECT * FROM '{tmp_path / 'people.parquet'}'")
    n = s.sql("SELECT count(*) AS n FROM t").to_arrow().column("n").to_pylist()
    assert n == [5]
    with pytest.raises(fc.FastcausalError, match="unknown|not found|does not exist"):
        s.table("no_such_table").count()


def test_example_script_runs():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "analysis.py")], capture_output=True, text=True,
                         cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "CUPED" in out.stdout and "x_cat1" in out.stdout


def test_sample_and_split_are_reproducible_and_partition_free(tmp_path):
    ids = pa.table({"id": pa.array(range(20_000), pa.int64()), "v": pa.array([i % 7 for i in range(20_000)], pa.int64())})
    one = fc.from_arrow(ids)
    # The same rows written as 4 files read back as one table: other partitions, same draws.
    for k in range(4):
        pq.write_table(ids.slice(k * 5000, 5000), tmp_path / f"part{k}.parquet")
    four = fc.read_parquet(tmp_path)
    train, test = one.split(test_size=0.2, seed=3)
    test_ids = sorted(test.to_arrow().column("id").to_pylist())
    train_ids = sorted(train.to_arrow().column("id").to_pylist())
    assert sorted(test_ids + train_ids) == list(range(20_000))  # disjoint and complete
    assert abs(len(test_ids) - 4000) < 4 * (20_000 * 0.2 * 0.8) ** 0.5  # binomial: within 4 σ
    assert sorted(four.split(test_size=0.2, seed=3)[1].to_arrow().column("id").to_pylist()) == test_ids
    assert sorted(one.split(test_size=0.2, seed=4)[1].to_arrow().column("id").to_pylist()) != test_ids
    sample = one.sample(0.1, seed=3)
    assert set(sample.to_arrow().column("id").to_pylist()) <= set(test_ids)  # 0.1 < 0.2: a subset
    by_v = one.sample(0.5, seed=1, by=["v"]).to_arrow().column("v").to_pylist()
    # Drawn by v alone: each of the 7 values is wholly in or wholly out.
    assert all(by_v.count(v) in (0, len([i for i in range(20_000) if i % 7 == v])) for v in range(7))
    with pytest.raises(ValueError):
        one.sample(1.5)


def test_ctrl_c_stops_a_long_query():
    script = (
        "import fastcausal as fc, sys\n"
        "print('started', flush=True)\n"
        "try:\n"
        "    fc.sql('SELECT count(DISTINCT value % 1000000007) FROM range(100000000000)').to_arrow()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
    )
    import signal
    import time

    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert "interrupted" in out, err
