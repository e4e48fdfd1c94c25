"""`connector demo`, the README's first command: offline, twice, the second run plans nothing."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
from tests.conftest import engine_under_test

from connector.demo.dataset import demo_as_of


def _connector() -> list[str]:
    """The installed ``connector`` command beside this interpreter, as the README runs it
    (``pip install -e . && connector demo``), or ``python -m connector`` where there is none:
    this test is then the README's first command end to end, so CI does not run it again."""
    script = Path(sys.executable).with_name("connector")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "connector"]


def test_demo_runs_twice_and_the_second_run_plans_nothing(tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "160"}
    engine = engine_under_test()  # CONNECTOR_TEST_ENGINE=spark: the demo on Spark local[2]
    done = subprocess.run(
        [*_connector(), "demo", "--dir", str(demo_dir), "--engine", engine],
        capture_output=True,
        text=True,
        timeout=900 if engine == "spark" else 300,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (demo_dir / ".connector" / "warehouse").is_dir() == (engine == "spark")
    assert "second run planned 0 changes" in done.stdout
    merged = next(line for line in done.stdout.splitlines() if "merged across sources" in line)
    for kind in ("hubspot_id", "klaviyo_id", "segment_user_id", "segment_anonymous_id"):
        assert kind in merged, "the same person found in HubSpot, Klaviyo and Segment"
    profile_id = merged.split("sources: ", 1)[1].split()[0]
    explained = subprocess.run(
        [
            sys.executable,
            "-m",
            "connector",
            "profiles",
            "explain",
            profile_id,
            "--config",
            str(demo_dir / "connector.toml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert explained.returncode == 0, explained.stderr
    assert "Merges" in explained.stdout
    assert "hubspot:" in explained.stdout
    assert "klaviyo:" in explained.stdout
    assert "@example.org" not in explained.stdout.replace("***@example.org", ""), "masked"
    traits = pd.read_csv(demo_dir / "out" / "traits.csv", dtype=str)
    members = pd.read_csv(demo_dir / "out" / "memberships.csv", dtype=str)
    assert traits["profile_id"].is_unique
    assert len(traits) > 500  # 719 people; those who denied ads consent get no traits in files
    tiers = {"tier-low", "tier-medium", "tier-high"}
    assert tiers <= set(members["segment_id"])
    assert any(s.startswith("cluster-") for s in members["segment_id"])
    for col in ("p_purchase_30d", "churn_risk", "clv", "clv_tier", "segment", "next_order_date"):
        assert col in traits.columns, col
    risk = traits["churn_risk"].dropna().astype(float)
    assert len(risk) >= 0.95 * len(traits), "buyers and browsers are scored"
    assert risk.between(0, 1).all()
    # the data is recent enough for forecasts, and the card says so (issue 16)
    with sqlite3.connect(demo_dir / ".connector" / "state.db") as db:
        cards = [
            json.loads(card)
            for (card,) in db.execute(
                "SELECT card FROM model_cards WHERE model = 'purchase_propensity_30d'"
            )
        ]
    assert cards
    assert all(c["sufficiency"]["status"] == "sufficient" for c in cards)
    # ... on today's clock: the demo scores as of this week's Monday and pushes the forecasts
    config = (demo_dir / "connector.toml").read_text()
    assert f'as_of = "{demo_as_of().isoformat()}"' in config
    assert traits["p_purchase_30d"].notna().sum() >= 0.95 * len(traits)
    assert traits["next_order_date"].dropna().min() >= demo_as_of().isoformat()
    # the shared test address stayed two people and merged nobody into them
    assert "test@test.com" not in set(traits["email"].fillna(""))
    # re-running in the same directory starts fresh; the files-only flavour needs no emulator
    # (on the default engine: what it checks does not depend on the engine)
    again = subprocess.run(
        [sys.executable, "-m", "connector", "demo", "--dir", str(demo_dir), "--files-only"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert again.returncode == 0, again.stderr
    assert "second run planned 0 changes" in again.stdout
    assert "demo data (files)" in again.stdout
    # no platform credentials left behind: only the demo's profile-id key
    secrets = (demo_dir / "connector.secrets.toml").read_text()
    assert "[identity]" in secrets
    assert "token" not in secrets
    assert "key =" not in secrets.replace("id_key =", "")


def test_demo_refuses_a_directory_it_did_not_create(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    done = subprocess.run(
        [sys.executable, "-m", "connector", "demo", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "not a demo directory" in done.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"
