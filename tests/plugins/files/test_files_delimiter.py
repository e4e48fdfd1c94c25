"""CSV written with another separator: a European Excel export uses ``;``. Set on the source,
it reads as any CSV; not set, the file is refused with one reason naming the setting (before,
the header read as one column and every row was quarantined as "source_id is missing")."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_config

from connector.config import load_config
from connector.pipeline import Workspace
from connector.pipeline.pull import pull_source

ROWS = "source_id;email;first_name\nc1;ann@example.org;Ann\nc2;bob@example.org;Bob\n"


def _pull(cfg: Path) -> tuple[dict[str, object], set[str]]:
    ws = Workspace(load_config(cfg, env={}))
    try:
        result = pull_source(ws, "shop", ws.config.sources["shop"], run_id="r1", dry_run=False)
        emails = {r[0] for r in ws.data.con.execute("SELECT email FROM profile_records").fetchall()}
        return dict(result.streams["profiles"]), emails
    finally:
        ws.close()


def test_a_semicolon_csv_reads_with_its_delimiter_and_is_refused_without(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    cfg = write_config(plain)
    (plain / "data" / "profiles" / "people.csv").write_text(ROWS)
    stats, emails = _pull(cfg)
    assert stats["quarantined"] == 1, stats
    reasons = " ".join(str(r) for r in stats["reasons"])  # type: ignore[attr-defined]
    assert "looks ';'-separated; set delimiter = ';' on the source" in reasons
    assert emails == set()

    set_ = tmp_path / "set"
    cfg = write_config(set_)
    cfg.write_text(cfg.read_text().replace('lookback = "1h"', 'lookback = "1h"\ndelimiter = ";"'))
    (set_ / "data" / "profiles" / "people.csv").write_text(ROWS)
    stats, emails = _pull(cfg)
    assert stats.get("quarantined", 0) == 0, stats
    assert emails == {"ann@example.org", "bob@example.org"}
