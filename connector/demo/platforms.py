"""The full demo: HubSpot, Klaviyo and Segment emulators holding the same people.

The shop's orders stay in files; the CRM contacts live in the HubSpot emulator, the marketing
profiles (with email subscriptions) in the Klaviyo emulator, and the web browsing in a Segment
S3-layout archive, each under that platform's own ids. Identity resolution has to find the
person behind them; the run then pushes scores and segments back to all three.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib.util import find_spec
from pathlib import Path

import httpx

from connector.demo.dataset import orders_by_customer, person, web_messages
from connector.plugin.registry import PluginRegistry
from connector.plugin.spec import EmulatorOptions

__all__ = ["PLATFORMS", "available", "platform_config", "running_platforms"]

PLATFORMS = ("hubspot", "klaviyo", "segment")
_SDKS = {"hubspot": "hubspot", "klaviyo": "klaviyo_api", "segment": "segment.analytics"}
# Fake credentials the emulators accept; they exist only in the demo directory.
SECRETS = {
    "hubspot": ("access_token", "pat-demo-hubspot-0001"),
    "klaviyo": ("api_key", "pk_demo_klaviyo_0001"),
    "segment": ("write_key", "demo-segment-write-key"),
}


def available(registry: PluginRegistry) -> list[str]:
    """The platforms whose plugin and official SDK are installed."""
    names = set(registry.names())
    return [p for p in PLATFORMS if p in names and find_spec(_SDKS[p].split(".")[0]) is not None]


def _people() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    by_customer, country = orders_by_customer()
    crm, marketing = [], []
    for i, cid in enumerate(sorted(by_customer)):
        p = person(cid)
        base = {"first_name": p["first"], "last_name": p["last"], "country": country.get(cid, "")}
        crm.append(
            {**base, "email": p["email"], "phone": p["phone"], "email_consent": p["consent_email"]}
        )
        if i % 5 != 0:  # most customers also subscribed in the e-mail tool, under another id
            marketing.append(
                {
                    **base,
                    "email": p["email"].upper() if i % 7 == 0 else p["email"],
                    "email_consent": p["consent_email"],
                    "external_id": f"shop-{cid}",
                }
            )
    return crm, marketing


def _write_archive(root: Path) -> Path:
    by_customer, _ = orders_by_customer()
    by_day: dict[int, list[str]] = {}
    for msg in web_messages(by_customer):
        msg["projectId"] = "demoWebSource"
        day = int(msg["timestamp"][:10].replace("-", ""))
        by_day.setdefault(day, []).append(json.dumps(msg))
    logs = root / "segment-archive" / "segment-logs" / "demoWebSource"
    from datetime import UTC, datetime

    for day, lines in sorted(by_day.items()):
        start = datetime.strptime(str(day), "%Y%m%d").replace(tzinfo=UTC)
        folder = logs / str(int(start.timestamp() * 1000))
        folder.mkdir(parents=True, exist_ok=True)
        with gzip.open(folder / "web-0001.gz", "wt", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    return root / "segment-archive"


@contextmanager
def running_platforms(root: Path, platforms: list[str]) -> Iterator[dict[str, str]]:
    """Start and seed the emulators; yield base URLs (plus the archive path for Segment)."""
    registry = PluginRegistry()
    crm, marketing = _people()
    urls: dict[str, str] = {}
    with ExitStack() as stack:
        for name in platforms:
            spec = registry.get(name)
            if spec.emulator is None:
                continue
            emu = stack.enter_context(spec.emulator(EmulatorOptions(limits="real", seed=1)))
            urls[name] = emu.base_url
        if "hubspot" in urls:
            httpx.post(f"{urls['hubspot']}/__emulator__/seed", json={"people": crm}, timeout=60)
        if "klaviyo" in urls:
            httpx.post(
                f"{urls['klaviyo']}/__emulator__/seed", json={"people": marketing}, timeout=60
            )
        if "segment" in platforms:
            urls["segment_archive"] = _write_archive(root).as_posix()
        yield urls


def platform_config(root: Path, urls: dict[str, str]) -> tuple[str, str]:
    """Config and secrets-file text for a run against the running emulators."""
    r = root.as_posix()
    parts = [
        "# Written by `connector demo`: the emulators it started are gone once it ends.",
        f'[workspace]\npath = "{r}/.connector"\n',
        '[identity]\ndefault_region = "GB"\n',
        '[model]\nas_of = "2011-12-10"   # the data ends on 2011-12-09\n',
        f'[sources.shop]\nplugin = "files"\npath = "{r}/data"\nlookback = "1d"\n',
        f'[destinations.export]\nplugin = "files"\npath = "{r}/out"\n',
    ]
    activated = '["tier-high", "tier-medium"]'
    if "hubspot" in urls:
        parts.append(f'[sources.hubspot]\nplugin = "hubspot"\nbase_url = "{urls["hubspot"]}"\n')
        parts.append(
            f'[destinations.hubspot_out]\nplugin = "hubspot"\nbase_url = "{urls["hubspot"]}"\n'
            f"segments = {activated}\n"
        )
    if "klaviyo" in urls:
        parts.append(
            f'[sources.klaviyo]\nplugin = "klaviyo"\nbase_url = "{urls["klaviyo"]}"\n'
            'lookback = "10m"\n'
        )
        parts.append(
            f'[destinations.klaviyo_out]\nplugin = "klaviyo"\nbase_url = "{urls["klaviyo"]}"\n'
            f"segments = {activated}\npoll_interval = 0.05\n"
        )
    if "segment_archive" in urls:
        parts.append(
            f'[sources.segment]\nplugin = "segment"\narchive_url = "{urls["segment_archive"]}"\n'
            'lookback = "0s"\n'
        )
    if "segment" in urls:
        parts.append(
            f'[destinations.segment_out]\nplugin = "segment"\nbase_url = "{urls["segment"]}"\n'
        )
    secrets = []
    for name in ("hubspot", "klaviyo", "segment"):
        if name not in urls:
            continue
        key, value = SECRETS[name]
        kinds = ("sources", "destinations") if name != "segment" else ("destinations",)
        for kind in kinds:
            instance = name if kind == "sources" else f"{name}_out"
            secrets.append(f'[{kind}.{instance}]\n{key} = "{value}"\n')
    return "\n".join(parts), "\n".join(secrets)
