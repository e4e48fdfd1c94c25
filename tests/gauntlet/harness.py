"""The gauntlet's scenario: a whole pipeline against emulators, driven like a user drives it.

Two CRM sources (HubSpot, Klaviyo) feed one workspace; six destinations (Klaviyo traits and
lists, HubSpot properties and lists, a Meta audience, a Google Customer Match list, Segment
identify traits, the files sink) receive the result. The
emulators run in the test process; the pipeline runs in a subprocess through
``python -m connector run`` so a test can kill it anywhere.

``destination_view`` reads every destination back through the emulators' admin state and the
sink's files, keyed by what is stable across workspaces (emails, hashed emails, list names), so
the state after crashes can be compared with an uncrashed reference run. ``ledger_view`` turns
the state store's ledger into the same shape, so a test can also check ledger == destinations.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import httpx
import pandas as pd
from tests.gauntlet import ads_segment as ads

from cdp_hubspot.emulator import HubSpotEmulator
from cdp_klaviyo.emulator import KlaviyoEmulator
from cdp_meta.emulator import MetaEmulator
from cdp_meta.identifiers import meta_email, meta_phone
from connector.plugin.spec import EmulatorOptions
from connector.sdk import sha256_hex

REPO = Path(__file__).resolve().parents[2]

# Distinctive secrets: the leak scan looks for exactly these strings.
HUBSPOT_TOKEN = "pat-na1-GAUNTLET-hubspot-7f3a9c1e5b"
KLAVIYO_KEY = "pk_GAUNTLETklaviyo4d2e8f0a6c"
META_TOKEN = "EAAGAUNTLETmetaToken9b1d3f5e7a"
TOKENS = (
    HUBSPOT_TOKEN,
    KLAVIYO_KEY,
    META_TOKEN,
    ads.GOOGLE_SECRET,
    ads.GOOGLE_REFRESH,
    ads.SEGMENT_KEY,
)

# segment id → the name the planner gives it (lists are "CDP: <name>", audiences "<name>")
SEGMENTS = ("rfm_high", "rfm_medium")
PROFILES = 80  # seeded per CRM emulator in the standard scenario


class _Meta(MetaEmulator):
    """The Meta emulator accepting the gauntlet's token instead of its built-in one."""

    access_token = META_TOKEN


@dataclass
class Platforms:
    hubspot: HubSpotEmulator
    klaviyo: KlaviyoEmulator
    meta: MetaEmulator
    google: Any
    segment: Any
    env: dict[str, str] = field(default_factory=dict)

    def all(self) -> dict[str, Any]:
        return {
            "hubspot": self.hubspot,
            "klaviyo": self.klaviyo,
            "meta": self.meta,
            "google": self.google,
            "segment": self.segment,
        }

    def state(self, name: str) -> dict[str, Any]:
        emu = self.all()[name]
        return httpx.get(f"{emu.base_url}/__emulator__/state", timeout=30).json()

    def requests(self, name: str) -> list[dict[str, Any]]:
        emu = self.all()[name]
        resp = httpx.get(f"{emu.base_url}/__emulator__/requests", timeout=30)
        return resp.json()["requests"]

    def faults(self, name: str, rules: list[dict[str, Any]]) -> None:
        emu = self.all()[name]
        resp = httpx.post(f"{emu.base_url}/__emulator__/faults", json={"rules": rules}, timeout=30)
        resp.raise_for_status()

    def state_faults(self, name: str) -> int:
        """How many times the platform's fault rules fired so far."""
        emu = self.all()[name]
        rules = httpx.get(f"{emu.base_url}/__emulator__/faults", timeout=30).json()["rules"]
        return sum(int(r["fired"]) for r in rules)

    def clear_faults(self) -> None:
        for name in self.all():
            self.faults(name, [])


@contextmanager
def platforms(
    profiles: int = 120, *, seed: int = 11, limits: Literal["real", "off"] = "off"
) -> Iterator[Platforms]:
    """Seeded HubSpot and Klaviyo (sources and destinations); empty Meta, Google, Segment."""
    with ExitStack() as stack:
        hubspot = stack.enter_context(
            HubSpotEmulator(EmulatorOptions(seed_profiles=profiles, seed=seed, limits=limits))
        )
        klaviyo = stack.enter_context(
            KlaviyoEmulator(EmulatorOptions(seed_profiles=profiles, seed=seed + 1, limits=limits))
        )
        meta = stack.enter_context(_Meta(EmulatorOptions(limits=limits)))
        google = stack.enter_context(ads.make_google(limits))
        segment = stack.enter_context(ads.make_segment(limits))
        env = {
            "GAUNTLET_HUBSPOT_TOKEN": HUBSPOT_TOKEN,
            "GAUNTLET_KLAVIYO_KEY": KLAVIYO_KEY,
            "GAUNTLET_META_TOKEN": META_TOKEN,
            "GAUNTLET_GOOGLE_SECRET": ads.GOOGLE_SECRET,
            "GAUNTLET_GOOGLE_REFRESH": ads.GOOGLE_REFRESH,
            "GAUNTLET_SEGMENT_KEY": ads.SEGMENT_KEY,
        }
        yield Platforms(hubspot, klaviyo, meta, google, segment, env)


def write_config(root: Path, p: Platforms, *, retry_seconds: float = 20.0, extra: str = "") -> Path:
    """The scenario's connector.toml (fast retries so fault tests finish in seconds)."""
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / "connector.toml"
    cfg.write_text(
        f"""
[workspace]
path = ".connector"

[identity]
default_region = "US"

[logging]
format = "json"

[sync]
retry_rounds = 2
max_first_creates = 100000000  # the scenario creates its people on purpose

[model]
as_of = "2030-01-01"
engine = "rfm"  # the checks compare RFM tiers

[sources.hubspot]
plugin = "hubspot"
access_token = {{ env = "GAUNTLET_HUBSPOT_TOKEN" }}
base_url = "{p.hubspot.base_url}"
lookback = "10m"
search_page_size = 25
retry_base_seconds = 0.05
max_retry_seconds = {retry_seconds}
timeout = 2

[sources.klaviyo]
plugin = "klaviyo"
api_key = {{ env = "GAUNTLET_KLAVIYO_KEY" }}
base_url = "{p.klaviyo.base_url}"
lookback = "10m"
profile_page_size = 25
event_page_size = 100
max_retry_seconds = {retry_seconds}
timeout = 2

[destinations.klaviyo_out]
plugin = "klaviyo"
api_key = {{ env = "GAUNTLET_KLAVIYO_KEY" }}
base_url = "{p.klaviyo.base_url}"
poll_interval = 0.05
segments = ["rfm_high", "rfm_medium"]
max_retry_seconds = {retry_seconds}
timeout = 2

[destinations.hubspot_out]
plugin = "hubspot"
access_token = {{ env = "GAUNTLET_HUBSPOT_TOKEN" }}
base_url = "{p.hubspot.base_url}"
segments = ["rfm_high", "rfm_medium"]
retry_base_seconds = 0.05
max_retry_seconds = {retry_seconds}
timeout = 2

[destinations.meta]
plugin = "meta"
access_token = {{ env = "GAUNTLET_META_TOKEN" }}
ad_account_id = "act_1001"
base_url = "{p.meta.base_url}"
segments = ["rfm_high"]
consent_policy = "not_denied"
max_retry_seconds = {retry_seconds}
timeout = 2

[destinations.export]
plugin = "files"
path = "out"
batch_size = 40
{ads.config_block(p.google.base_url, p.segment.base_url, retry_seconds)}
{extra}
"""
    )
    return cfg


def cli_env(p: Platforms, **extra: str) -> dict[str, str]:
    """Environment for ``python -m connector``: this checkout's code first, the secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "plugins")])
    env.update(p.env)
    env.update(extra)
    return env


def run_cli(
    cfg: Path, p: Platforms, *args: str, timeout: float = 300, **extra: str
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "connector", *(args or ("run",)), "--config", str(cfg)]
    return subprocess.run(
        cmd,
        env=cli_env(p, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cfg.parent,
    )


def run_and_kill(cfg: Path, p: Platforms, *, when: Any, timeout: float = 120) -> int:
    """Start a run and SIGKILL it once ``when()`` is true; returns the exit code.

    ``when`` is polled every 20 ms; a run that ends first returns its own code.
    """
    cmd = [sys.executable, "-m", "connector", "run", "--config", str(cfg)]
    proc = subprocess.Popen(
        cmd,
        env=cli_env(p),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cfg.parent,
    )
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if when():
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- reading the result back -------------------------------------------------------------------


def _meta_hash(key: str) -> str:
    """The Meta match key a profile keyed by email (or, lacking one, E.164 phone) lands as."""
    if "@" in key:
        return sha256_hex(meta_email(key))
    return sha256_hex(meta_phone(key))


def destination_view(p: Platforms, root: Path) -> dict[str, Any]:
    """Every destination's state, keyed by emails (or their hashes) and list names."""
    kl = p.state("klaviyo")
    kl_email = {
        pid: (pr.get("email") or pr.get("phone_number") or "").lower()
        for pid, pr in kl["profiles"].items()
    }
    kl_lists: dict[str, list[str]] = {}
    for lst in kl["lists"].values():
        kl_lists[lst["name"]] = sorted(kl_email[m] for m in lst["members"])
    kl_traits = {
        kl_email[pid]: {k: v for k, v in pr["properties"].items() if k.startswith("rfm_")}
        for pid, pr in kl["profiles"].items()
    }
    hs = p.state("hubspot")
    hs_email = {
        rid: (c.get("email") or c.get("phone") or "").lower() for rid, c in hs["contacts"].items()
    }
    hs_lists = {
        lst["name"]: sorted(hs_email[str(m)] for m in lst["members"]) for lst in hs["lists"]
    }
    hs_traits = {
        hs_email[rid]: {k: v for k, v in c.items() if k.startswith("rfm_") and v not in (None, "")}
        for rid, c in hs["contacts"].items()
    }
    meta = p.state("meta")
    meta_aud = {
        a["name"]: sorted(m.get("EMAIL") or m.get("PHONE", "") for m in a["members"])
        for a in meta["audiences"].values()
    }
    return {
        "klaviyo_lists": kl_lists,
        "klaviyo_traits": {e: t for e, t in kl_traits.items() if t},
        "hubspot_lists": hs_lists,
        "hubspot_traits": {e: t for e, t in hs_traits.items() if t},
        "meta_audiences": meta_aud,
        "google_lists": ads.google_view(p.state("google")),
        "segment_traits": ads.segment_view(p.state("segment")),
        "files": files_view(root),
    }


def files_view(root: Path) -> dict[str, Any]:
    """The files sink's output keyed by email: traits rows and memberships."""
    out = root / "out"
    emails = profile_emails(root)
    view: dict[str, Any] = {"traits": {}, "memberships": [], "duplicates": 0}
    traits_csv, members_csv = out / "traits.csv", out / "memberships.csv"
    if traits_csv.exists():
        df = pd.read_csv(traits_csv, dtype=str).fillna("")
        view["duplicates"] += int(df["profile_id"].duplicated().sum())
        cols = sorted(c for c in df.columns if c.startswith("rfm_"))
        view["traits"] = {
            emails.get(r["profile_id"], r["profile_id"]): tuple(r[c] for c in cols)
            for r in df.to_dict("records")
        }
    if members_csv.exists():
        df = pd.read_csv(members_csv, dtype=str).fillna("")
        view["duplicates"] += int(df.duplicated(["segment_id", "profile_id"]).sum())
        view["memberships"] = sorted(
            (r["segment_id"], emails.get(r["profile_id"], r["profile_id"]))
            for r in df.to_dict("records")
        )
    return view


def profile_emails(root: Path) -> dict[str, str]:
    """profile_id → lowercased email from the workspace's data store (read-only)."""
    path = root / ".connector" / "data.duckdb"
    if not path.exists():
        return {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT profile_id, coalesce(email, phone) FROM profiles").fetchall()
        retired = con.execute("SELECT profile_id, merged_into FROM retired_profiles").fetchall()
    finally:
        con.close()
    emails = {pid: (email or "").lower() for pid, email in rows}
    for old, new in retired:
        emails.setdefault(old, emails.get(new, old))
    return emails


def events_in_store(root: Path) -> list[tuple[str, str]]:
    """(source, source_event_id) of every stored event, duplicates included."""
    con = duckdb.connect(str(root / ".connector" / "data.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT source, source_event_id FROM events").fetchall()
        return [(str(a), str(b)) for a, b in rows]
    finally:
        con.close()


def ledger_rows(root: Path) -> list[dict[str, Any]]:
    db = root / ".connector" / "state.db"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        cur = con.execute("SELECT destination, key, kind, profile_id, segment_id FROM ledger")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def segment_names(root: Path) -> dict[str, str]:
    db = root / ".connector" / "state.db"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return dict(con.execute("SELECT segment_id, name FROM segments").fetchall())
    finally:
        con.close()


def ledger_view(root: Path) -> dict[str, Any]:
    """The ledger in the destination view's shape (memberships per list name, by email)."""
    emails = profile_emails(root)
    names = segment_names(root)
    view: dict[str, Any] = {
        "klaviyo_lists": {},
        "hubspot_lists": {},
        "meta_audiences": {},
        "google_lists": {},
        "trait_profiles": {},
    }
    where = {
        "klaviyo_out": "klaviyo_lists",
        "hubspot_out": "hubspot_lists",
        "meta": "meta_audiences",
        "google": "google_lists",
    }
    for row in ledger_rows(root):
        dest = row["destination"]
        email = emails.get(row["profile_id"], row["profile_id"])
        if row["kind"] == "trait":
            view["trait_profiles"].setdefault(dest, set()).add(email)
            continue
        if dest not in where:
            continue
        name = names.get(row["segment_id"], row["segment_id"])
        if dest == "meta":
            view[where[dest]].setdefault(name, []).append(_meta_hash(email))
        elif dest == "google":
            list_id = ads.GOOGLE_LISTS[row["segment_id"]]
            view[where[dest]].setdefault(list_id, []).append(ads.google_hash(email))
        else:
            view[where[dest]].setdefault(f"CDP: {name}", []).append(email)
    for key in where.values():
        view[key] = {k: sorted(v) for k, v in view[key].items()}
    return view


def assert_ledger_agrees(p: Platforms, root: Path) -> dict[str, Any]:
    """The ledger and every destination say the same; returns the destination view."""
    dest = destination_view(p, root)
    led = ledger_view(root)
    for key in ("klaviyo_lists", "hubspot_lists", "meta_audiences", "google_lists"):
        have = {k: v for k, v in dest[key].items() if v}
        want = {k: v for k, v in led[key].items() if v}
        assert have == want, f"{key}: ledger and destination disagree"
    kl_dest, kl_led = set(dest["klaviyo_traits"]), led["trait_profiles"].get("klaviyo_out", set())
    assert kl_dest == kl_led, (len(kl_dest), len(kl_led), sorted(kl_dest ^ kl_led)[:6])
    hub_dest, hub_led = set(dest["hubspot_traits"]), led["trait_profiles"].get("hubspot_out", set())
    assert hub_dest == hub_led, (sorted(hub_dest - hub_led)[:5], sorted(hub_led - hub_dest)[:5])
    seg_dest, seg_led = set(dest["segment_traits"]), led["trait_profiles"].get("segment_out", set())
    assert seg_dest == seg_led, (sorted(seg_dest - seg_led)[:5], sorted(seg_led - seg_dest)[:5])
    assert set(dest["files"]["traits"]) == led["trait_profiles"].get("export", set())
    return dest


def in_process_run(cfg: Path, p: Platforms) -> Any:
    """One run in this process (no crash points): faster for reference runs."""
    from connector.config import load_config
    from connector.pipeline import Workspace, run_pipeline

    ws = Workspace(load_config(cfg, env=p.env))
    try:
        return run_pipeline(ws)
    finally:
        ws.close()


def settle(cfg: Path, p: Platforms, *, max_runs: int = 4) -> int:
    """Run until a run plans nothing (the desired state is delivered); returns runs made."""
    for n in range(1, max_runs + 1):
        summary = in_process_run(cfg, p)
        if summary.counts.get("planned", 1) == 0 and not summary.failures:
            return n
    raise AssertionError(f"still planning changes after {max_runs} runs")


def comparable(view: dict[str, Any]) -> str:
    """A stable text form of a destination view for equality checks and diffs."""
    return json.dumps(view, sort_keys=True, default=sorted, indent=1)
