"""The full demo: platform emulators holding the same people under their own ids.

The shop's orders stay in files; each plugin that offers a demo role (``PluginSpec.demo``) gets
its part of the cast: CRM contacts, marketing subscribers with e-mail consent, or web browsing.
Identity resolution has to find the person behind them; the run then pushes scores and
segments back to every one of them. Which platform plays what is the plugins' business.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib.util import find_spec
from pathlib import Path

from connector.demo.dataset import as_of_setting, orders_by_customer, person, web_messages
from connector.errors import ConfigError
from connector.plugin.registry import PluginRegistry
from connector.plugin.spec import DemoCast, DemoPart, DemoRole, EmulatorOptions

__all__ = [
    "ACTIVATED",
    "available",
    "platform_config",
    "roles_played",
    "running_platforms",
    "write_ads_consent",
]

ACTIVATED = ("tier-high", "tier-medium")
"""The segments every demo destination activates."""


def _role(registry: PluginRegistry, name: str) -> DemoRole | None:
    try:
        spec = registry.get(name)
    except ConfigError:
        return None
    return spec.demo if spec.emulator is not None else None


def available(registry: PluginRegistry) -> list[str]:
    """The plugins with a demo role whose official SDK is installed."""
    return [
        name
        for name in registry.names()
        if (role := _role(registry, name)) is not None
        and find_spec(role.sdk.split(".")[0]) is not None
    ]


def roles_played(registry: PluginRegistry, platforms: list[str]) -> frozenset[str]:
    """The parts of the cast these platforms hold (the demo writes the rest as files)."""
    return frozenset(p for n in platforms if (r := _role(registry, n)) for p in r.plays)


def _cast(root: Path) -> DemoCast:
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
    return DemoCast(root, crm, marketing, list(web_messages(by_customer)), ACTIVATED)


@contextmanager
def running_platforms(root: Path, platforms: list[str]) -> Iterator[dict[str, DemoPart]]:
    """Start each platform's emulator and let its plugin seed it; yield each plugin's part."""
    registry = PluginRegistry()
    cast = _cast(root)
    parts: dict[str, DemoPart] = {}
    with ExitStack() as stack:
        for name in platforms:
            spec = registry.get(name)
            if spec.emulator is None or spec.demo is None:
                continue
            emu = stack.enter_context(spec.emulator(EmulatorOptions(limits="real", seed=1)))
            parts[name] = spec.demo.setup(emu.base_url, cast)
        yield parts


def platform_config(root: Path, parts: dict[str, DemoPart]) -> tuple[str, str]:
    """Config and secrets-file text for a run against the running emulators."""
    r = root.as_posix()
    config = [
        "# Written by `connector demo`: the emulators it started are gone once it ends.",
        f'[workspace]\npath = "{r}/.connector"\n',
        '[identity]\ndefault_region = "GB"\n',
        f"[model]\n{as_of_setting()}\n",
        f'[sources.shop]\nplugin = "files"\npath = "{r}/data"\nlookback = "1d"\n',
        f'[destinations.export]\nplugin = "files"\npath = "{r}/out"\n',
    ]
    config += [part.config for part in parts.values()]
    return "\n".join(config), "\n".join(p.secrets for p in parts.values() if p.secrets)


def write_ads_consent(data: Path) -> int:
    """The shop's checkout records ads consent (the CRM held by a platform does not): one row
    per customer, keyed by email, dated by their last order. Returns the rows written."""
    by_customer, _country = orders_by_customer()
    path = data / "profiles" / "shop_ads_consent.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["source_id", "email", "updated_at", "consent.ads"])
        for cid in sorted(by_customer):
            p = person(cid)
            last = max(o["at"] for o in by_customer[cid])
            w.writerow([f"checkout-{cid}", p["email"], last.isoformat(), p["consent_ads"]])
    return len(by_customer)
