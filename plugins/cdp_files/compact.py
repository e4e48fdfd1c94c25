"""Fold the journal's parts into ``traits.<fmt>`` and ``memberships.<fmt>``, inside DuckDB.

Once per run (when the sink is closed), not per batch: the parts listed in the manifest are
read by DuckDB and the last op per key wins (a part listed later beats an earlier one, a later
row in a part an earlier one). Only the keys an op touched are built anew: every other row of
the output file is copied with its cells as stored (no re-encoding, no trait map per row), and
a file no op touched is not rewritten. Each file is written once and swapped in atomically.

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

# DuckDB's default limit is 80 % of the host's memory, on top of the run's own budget (a
# million-profile first run's fold took gigabytes); beyond this it spills to ``.compact.tmp``
FOLD_MEMORY = "512MB"
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


def _from_cell(expr: str) -> str:
    return f"CASE WHEN starts_with({expr}, '''') THEN {expr}[2:] ELSE {expr} END"


class _Files:
    def __init__(self, con: duckdb.DuckDBPyConnection, ext: str) -> None:
        self.con = con
        self.ext = ext

    def stored(self, path: Path) -> tuple[str, list[str]] | None:
        """A relation over an output file with its cells as stored, and its columns, or None."""
        if not path.exists():
            return None
        if self.ext == "csv":
            src = (
                f"read_csv({_literal(str(path))}, all_varchar=true, header=true, delim=',', "
                "quote='\"', escape='\"')"
            )
        else:
            src = f"read_parquet({_literal(str(path))})"
        cols = [r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
        cells = ", ".join(f"CAST({_quote(c)} AS VARCHAR) AS {_quote(c)}" for c in cols)
        return f"(SELECT {cells} FROM {src})", cols

    def value(self, column: str, alias: str = "") -> str:
        """A stored cell's value (what was sent)."""
        ref = f"{alias}{_quote(column)}"
        return _from_cell(ref) if self.ext == "csv" else ref

    def cell(self, expr: str) -> str:
        """The cell a value is stored as (empty written bare in CSV, as '' in Parquet)."""
        if self.ext == "csv":
            return _to_cell(f"NULLIF({expr}, '')")
        return f"coalesce({expr}, '')"

    def empty(self) -> str:
        return "NULL" if self.ext == "csv" else "''"

    def write(self, select: str, columns: list[str], path: Path) -> None:
        """``select`` yields finished cells in ``columns``, ordered by ``_o1, _o2``."""
        options = (
            "FORMAT csv, HEADER true, DELIMITER ','" if self.ext == "csv" else "FORMAT parquet"
        )
        cells = ", ".join(_quote(c) for c in columns)
        query = f"COPY (SELECT {cells} FROM ({select}) ORDER BY _o1, _o2) TO {{tmp}} ({options})"
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


def _latest(con: duckdb.DuckDBPyConnection, name: str, ops: str, key: str) -> int:
    """Each key's last op of ``ops`` (a later part wins, then a later row), as table ``name``."""
    con.execute(
        f"CREATE TEMP TABLE {name} AS SELECT * FROM ops WHERE op IN ({ops}) "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY pos DESC, seq DESC) = 1"
    )
    row = con.execute(f"SELECT count(*) FROM {name}").fetchone()
    return int(row[0]) if row else 0


def _traits(files: _Files, path: Path) -> None:
    """Rows of profiles no op touched are copied as stored; only the changed ones are built."""
    con = files.con
    base = files.stored(path)
    if not _latest(con, "latest_traits", "'upsert', 'unset'", "profile_id") and base:
        return  # nothing changed: the file stands
    con.execute(
        "CREATE TEMP TABLE changed AS SELECT profile_id, email, "
        "CAST(CAST(coalesce(traits, '{}') AS JSON) AS MAP(VARCHAR, VARCHAR)) AS traits "
        "FROM latest_traits WHERE op = 'upsert'"
    )
    # a profile's address as its traits row now has it (none, when it was removed upstream):
    # its membership rows follow
    con.execute(f"INSERT INTO addresses SELECT profile_id, {files.cell('email')} FROM changed")
    found = con.execute(
        "SELECT DISTINCT k FROM (SELECT unnest(map_keys(traits)) AS k, traits FROM changed) "
        "WHERE coalesce(traits[k], '') <> ''"
    ).fetchall()
    names = {str(k[0]) for k in found} - {"email"}
    kept = ""
    if base is not None:
        rel, cols = base
        kept = (
            f"(SELECT * FROM {rel} b ANTI JOIN latest_traits l "
            f"ON {files.value('profile_id', 'b.')} = l.profile_id)"
        )
        # a column stays while an untouched row has a value in it (the scan stops at the
        # first one: the whole file is read only for a column about to empty)
        for c in (c for c in cols if c not in ("profile_id", "email") and c not in names):
            if con.execute(f"SELECT 1 FROM {kept} WHERE {_quote(c)} <> '' LIMIT 1").fetchone():
                names.add(c)
    columns = ["profile_id", "email", *sorted(names)]
    values = ["profile_id", "email", *(f"traits[{_literal(n)}]" for n in sorted(names))]
    fresh = ", ".join(
        f"{files.cell(v)} AS {_quote(c)}" for v, c in zip(values, columns, strict=True)
    )
    select = f"SELECT profile_id AS _o1, NULL AS _o2, {fresh} FROM changed"
    if base is not None:
        have = set(base[1])
        old = ", ".join(
            f"{_quote(c) if c in have else files.empty()} AS {_quote(c)}" for c in columns
        )
        select += (
            f" UNION ALL SELECT {files.value('profile_id')} AS _o1, NULL AS _o2, {old} FROM {kept}"
        )
    files.write(select, columns, path)


def _memberships(files: _Files, path: Path) -> None:
    """Rows no op touched are copied as stored, but for the address of a person whose traits
    row has a new one (their e-mail changed upstream)."""
    con = files.con
    base = files.stored(path)
    ops = _latest(con, "latest_members", "'add', 'remove'", "segment_id, profile_id")
    pid = files.value("profile_id", "b.")
    if base is not None and not ops:
        moved = con.execute(
            f"SELECT 1 FROM {base[0]} b JOIN addresses a ON {pid} = a.profile_id "
            "WHERE b.email IS DISTINCT FROM a.email LIMIT 1"
        ).fetchone()
        if moved is None:
            return
    cols = ["segment_id", "segment_name", "profile_id", "email"]
    fresh = ", ".join(f"{files.cell(_quote(c))} AS {_quote(c)}" for c in cols)
    select = (
        f"SELECT segment_id AS _o1, profile_id AS _o2, {fresh} FROM latest_members WHERE op = 'add'"
    )
    if base is not None:
        seg = files.value("segment_id", "b.")
        old = ", ".join(
            "CASE WHEN a.profile_id IS NULL THEN b.email ELSE a.email END AS email"
            if c == "email"
            else f"b.{_quote(c)}"
            for c in cols
        )
        select += (
            f" UNION ALL SELECT {seg} AS _o1, {pid} AS _o2, {old} FROM {base[0]} b "
            f"LEFT JOIN addresses a ON {pid} = a.profile_id "
            f"ANTI JOIN latest_members l ON {seg} = l.segment_id AND {pid} = l.profile_id"
        )
    files.write(select, cols, path)


def compact(root: Path, ext: str, parts: list[Path], traits: Path, memberships: Path) -> None:
    """Rewrite both output files as they stand plus ``parts`` (in order), each atomically."""
    con = duckdb.connect(config={"threads": 2, "preserve_insertion_order": True})
    try:
        con.execute(f"SET temp_directory = {_literal(str(root / '.compact.tmp'))}")
        con.execute(f"SET memory_limit = {_literal(FOLD_MEMORY)}")
        _parts_table(con, parts)
        con.execute("CREATE TEMP TABLE addresses(profile_id VARCHAR, email VARCHAR)")
        files = _Files(con, ext)
        _traits(files, traits)
        crashpoint("files.after_fold")
        _memberships(files, memberships)
    finally:
        con.close()
