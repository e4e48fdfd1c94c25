"""A plan's tables on Spark: the planner's SQL translated by SQLGlot and joined on the executors.

With ``[engine] kind = "spark"`` the diff of desired state against the ledger is Spark's work.
The ledger's rows (read from the state store a chunk at a time: the store stays the only record,
and pending marks and acknowledgements are written there by apply as on DuckDB) and the desired
keys and digests are written as Parquet under ``<warehouse>/plan/<destination>/``; each of the
planner's statements (DuckDB's dialect, ``connector.sync.plan_db``) is translated by
``connector.engine.translate.to_spark``, run, and its result written there too; apply reads the
numbered changes back a batch at a time (one range of ``ord`` per read, which the Parquet
row-group statistics find without reading the rest of the table; from a local warehouse this
process reads the files itself, from an object store Spark does).

Parquet rather than DataFrames built from Arrow on the driver: a ledger of tens of millions of
rows then never sits in the driver's memory, and on a local warehouse the chunks are written by
pyarrow directly, with no Spark job per chunk. The directory is replaced by the destination's
next plan, like the published tables; ``close`` removes a local one (an object store's stays
until then: the connector holds no credentials of its own to delete with).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from connector.engine.translate import to_spark
from connector.sync.plan_db import Row

__all__ = ["SparkPlanDatabase"]

_IDS = itertools.count()


def _is_url(path: str) -> bool:
    return "://" in path


def _local(path: str) -> Path | None:
    """The directory of a local path or ``file:`` URL; None for an object store's."""
    if not _is_url(path):
        return Path(path)
    return Path(urlparse(path).path) if path.startswith("file:") else None


def _slug(destination: str) -> str:
    """A directory name per destination (names are the user's; two never share one)."""
    digest = hashlib.sha256(destination.encode()).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', destination)[:40]}-{digest}"


_DDL = {pa.string(): "STRING", pa.bool_(): "BOOLEAN", pa.int64(): "BIGINT"}


def _spark_schema(schema: pa.Schema) -> str:
    return ", ".join(f"`{f.name}` {_DDL[f.type]}" for f in schema)


def _files(folder: Path) -> list[str]:
    """The Parquet files of a table Spark wrote (not its ``_SUCCESS`` or checksums)."""
    return sorted(str(f) for f in folder.glob("*.parquet") if not f.name.startswith((".", "_")))


def _tuples(table: pa.Table) -> list[Row]:
    return list(zip(*(c.to_pylist() for c in table.columns), strict=True))


class SparkPlanDatabase:
    """One destination's plan on a SparkSession; its tables are temporary views (named per
    plan, so the plans of several destinations coexist) over Parquet in ``root``."""

    batch = 20_000

    def __init__(self, spark: Any, root: str, destination: str) -> None:
        self._spark = spark
        self._dir = f"{root.rstrip('/')}/{_slug(destination)}"
        self._prefix = f"_plan{next(_IDS)}_"
        self._views: dict[str, str] = {}

    def put(self, name: str, table: pa.Table) -> None:
        self.load(name, table.schema, [table])

    def load(self, name: str, schema: pa.Schema, chunks: Iterable[pa.Table]) -> int:
        path = self._path(name)
        n = 0
        if _is_url(path):
            mode = "overwrite"
            for chunk in chunks:
                self._spark.createDataFrame(chunk).write.mode(mode).parquet(path)
                mode, n = "append", n + chunk.num_rows
            if mode == "overwrite":  # no rows: the table still needs its columns
                self._spark.createDataFrame(schema.empty_table()).write.mode(mode).parquet(path)
        else:
            folder = Path(path)
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            for i, chunk in enumerate(chunks):
                pq.write_table(chunk, folder / f"part-{i:05d}.parquet")
                n += chunk.num_rows
            if n == 0:
                pq.write_table(schema.empty_table(), folder / "part-00000.parquet")
        self._register(name, path, _spark_schema(schema))
        return n

    def create(self, name: str, sql: str, params: Sequence[Any] = ()) -> int:
        path = self._path(name)
        # a table keeps no order (reads ask for ``ORDER BY ord``): no global sort to write it
        frame = self._spark.sql(self._translate(sql, params, ordered=False))
        frame.write.mode("overwrite").parquet(path)
        self._register(name, path, frame.schema)
        if _is_url(path):
            return int(self._spark.table(self._views[name]).count())
        # the files' footers hold the count: no Spark job for it
        return sum(pq.ParquetFile(f).metadata.num_rows for f in _files(Path(path)))

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return _tuples(self.arrow(sql, params))

    def arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        found: pa.Table = self._spark.sql(self._translate(sql, params)).toArrow()
        return found

    def read(self, table: str, columns: Sequence[str], start: int, stop: int) -> list[Row]:
        path = self._path(table)
        if not _is_url(path):
            # read by this process from the written files, skipping row groups by their
            # ``ord`` statistics: no Spark job per batch
            found = ds.dataset(_files(Path(path)), format="parquet").to_table(
                columns=[*columns, "ord"],
                filter=(ds.field("ord") > start) & (ds.field("ord") <= stop),
            )
            return _tuples(found.sort_by("ord").select(list(columns)))
        query = (
            f"SELECT {', '.join(f'`{c}`' for c in columns)} FROM {self._views[table]} "
            f"WHERE ord > {int(start)} AND ord <= {int(stop)} ORDER BY ord"
        )
        return _tuples(self._spark.sql(query).toArrow())

    def drop(self, *names: str) -> None:
        for name in names:
            view = self._views.pop(name, None)
            if view is not None:
                self._spark.catalog.dropTempView(view)

    def close(self) -> None:
        self.drop(*list(self._views))
        local = _local(self._dir)
        if local is not None:
            shutil.rmtree(local, ignore_errors=True)

    def _path(self, name: str) -> str:
        return f"{self._dir}/{name}"

    def _register(self, name: str, path: str, schema: Any) -> None:
        """A view over the table's files, with the schema it was written with (Spark need not
        read a footer to infer it)."""
        view = self._prefix + name
        self._spark.read.schema(schema).parquet(path).createOrReplaceTempView(view)
        self._views[name] = view

    def _translate(self, sql: str, params: Sequence[Any], *, ordered: bool = True) -> str:
        """The statement in Spark's dialect, reading this plan's views (without its final
        ``ORDER BY`` unless ``ordered``)."""
        tree = sqlglot.parse_one(to_spark(sql, list(params)), read="spark")
        if not ordered:
            tree.set("order", None)

        def rename(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Table) and not node.args.get("db") and node.name in self._views:
                return exp.to_table(self._views[node.name]).as_(node.alias or node.name)
            return node

        return tree.transform(rename).sql(dialect="spark")
