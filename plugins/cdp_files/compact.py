"""Fold the journal's parts into ``traits.<fmt>`` and ``memberships.<fmt>``, inside DuckDB.

Once per run (when the sink is closed), not per batch: the output files as they stand and the
parts listed in the manifest are read by DuckDB, the last row per key wins (a part listed later
beats an earlier one, a later row in a part an earlier one), and each file is written once and
swapped in atomically. Cost and memory grow with the data, never with the number of batches.

CSV cells are made inert for spreadsheets here too, with the rule of ``spreadsheet.to_cell``
(``'`` before a cell a spreadsheet would evaluate, numbers left alone) spelled in SQL, and a
cell read back loses exactly one leading ``'`` (``from_cell``).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from cdp_files.journal import atomic_write
from connector.sdk import crashpoint

__all__ = ["compact"]

_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _to_cell(expr: str) -> str:
    starts = " OR ".join(f"starts_with({expr}, {_literal(t)})" for t in _TRIGGERS)
    return (
        f"CASE WHEN ({starts}) AND NOT regexp_full_match({expr}, {_literal(_NUMBER)}) "
        f"THEN '''' || {expr} ELSE {expr} END"
    )


def _nonempty(column: str) -> str:
    """An empty cell is written bare (``,,``), not as ``""``."""
    return f"NULLIF({_quote(column)}, '')"


def _from_cell(expr: str) -> str:
    return f"CASE WHEN starts_with({expr}, '''') THEN {expr}[2:] ELSE {expr} END"


class _Files:
    def __init__(self, con: duckdb.DuckDBPyConnection, ext: str) -> None:
        self.con = con
        self.ext = ext

    def read(self, path: Path) -> tuple[str, list[str]] | None:
        """A relation over an output file (cells as sent) and its columns, or None."""
        if not path.exists():
            return None
        if self.ext == "csv":
            src = (
                f"read_csv({_literal(str(path))}, all_varchar=true, header=true, delim=',', "
                "quote='\"', escape='\"')"
            )
            cols = [r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
            cells = ", ".join(f"{_from_cell(_quote(c))} AS {_quote(c)}" for c in cols)
            return f"(SELECT {cells} FROM {src})", cols
        src = f"read_parquet({_literal(str(path))})"
        cols = [r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
        cells = ", ".join(f"CAST({_quote(c)} AS VARCHAR) AS {_quote(c)}" for c in cols)
        return f"(SELECT {cells} FROM {src})", cols

    def write(self, select: str, columns: list[str], path: Path) -> None:
        if self.ext == "csv":
            cells = ", ".join(f"{_to_cell(_nonempty(c))} AS {_quote(c)}" for c in columns)
            options = "FORMAT csv, HEADER true, DELIMITER ','"
        else:
            cells = ", ".join(f"coalesce({_quote(c)}, '') AS {_quote(c)}" for c in columns)
            options = "FORMAT parquet"
        query = f"COPY (SELECT {cells} FROM ({select})) TO {{tmp}} ({options})"
        atomic_write(path, lambda tmp: self.con.execute(query.format(tmp=_literal(str(tmp)))))


def _parts_table(con: duckdb.DuckDBPyConnection, parts: list[Path]) -> None:
    files = ", ".join(_literal(str(p)) for p in parts)
    order = ", ".join(f"({i}, {_literal(p.name)})" for i, p in enumerate(parts))
    con.execute("CREATE TEMP TABLE part_order(pos BIGINT, name VARCHAR)")
    con.execute(f"INSERT INTO part_order VALUES {order}")
    con.execute(
        f"CREATE TEMP TABLE ops AS SELECT o.pos, p.* EXCLUDE (filename) "
        f"FROM read_parquet([{files}], filename=true) p "
        "JOIN part_order o ON parse_filename(p.filename) = o.name"
    )


def _traits(files: _Files, path: Path) -> None:
    con = files.con
    base = files.read(path)
    union = ""
    if base is not None:
        rel, cols = base
        names = [c for c in cols if c not in ("profile_id", "email")]
        pairs = ", ".join(f"{{'k': {_literal(n)}, 'v': {_quote(n)}}}" for n in names)
        traits = (
            f"map_from_entries(list_filter([{pairs}], lambda x: coalesce(x.v, '') <> ''))"
            if names
            else "MAP {}::MAP(VARCHAR, VARCHAR)"
        )
        union = (
            f"SELECT -1 AS pos, 0 AS seq, 'upsert' AS op, profile_id, email, {traits} AS traits "
            f"FROM {rel} UNION ALL "
        )
    con.execute(
        "CREATE TEMP TABLE traits_now AS SELECT profile_id, email, traits FROM ("
        f"{union}SELECT pos, seq, op, profile_id, email, "
        "CAST(CAST(coalesce(traits, '{}') AS JSON) AS MAP(VARCHAR, VARCHAR)) AS traits "
        "FROM ops WHERE op IN ('upsert', 'unset')) "
        "QUALIFY row_number() OVER (PARTITION BY profile_id ORDER BY pos DESC, seq DESC) = 1 "
        "AND op = 'upsert'"
    )
    keys = con.execute(
        "SELECT DISTINCT unnest(map_keys(traits)) AS k FROM traits_now ORDER BY k"
    ).fetchall()
    names = [str(k[0]) for k in keys if k[0] != "email"]
    cells = "".join(f", traits[{_literal(n)}] AS {_quote(n)}" for n in names)
    select = f"SELECT profile_id, email{cells} FROM traits_now ORDER BY profile_id"
    files.write(select, ["profile_id", "email", *names], path)


def _memberships(files: _Files, path: Path) -> None:
    base = files.read(path)
    cols = ["segment_id", "segment_name", "profile_id", "email"]
    union = ""
    if base is not None:
        rel, _ = base
        union = f"SELECT -1 AS pos, 0 AS seq, 'add' AS op, {', '.join(cols)} FROM {rel} UNION ALL "
    select = (
        f"SELECT {', '.join(cols)} FROM ({union}SELECT pos, seq, op, {', '.join(cols)} "
        "FROM ops WHERE op IN ('add', 'remove')) QUALIFY row_number() OVER "
        "(PARTITION BY segment_id, profile_id ORDER BY pos DESC, seq DESC) = 1 AND op = 'add' "
        "ORDER BY segment_id, profile_id"
    )
    files.write(select, cols, path)


def compact(root: Path, ext: str, parts: list[Path], traits: Path, memberships: Path) -> None:
    """Rewrite both output files as they stand plus ``parts`` (in order), each atomically."""
    con = duckdb.connect(config={"threads": 2, "preserve_insertion_order": True})
    try:
        con.execute(f"SET temp_directory = {_literal(str(root / '.compact.tmp'))}")
        _parts_table(con, parts)
        files = _Files(con, ext)
        _traits(files, traits)
        crashpoint("files.after_fold")
        _memberships(files, memberships)
    finally:
        con.close()
