"""Ad audience sinks end to end against their emulators, plus identifier hashing throughput.

Run from the repo root:
    PYTHONPATH=$PWD:$PWD/plugins python benchmarks/ads_audiences.py [N]
N is the size of each of the three segments (default 30,000). It runs the issue's Done-when
scenario (tests/plugins/test_ads_done_when.py) with its assertions, then prints the timings,
the match rates the sinks report (``last_match_rates``) and the hashing rate.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "plugins"))

from ads_driver import people  # noqa: E402
from test_ads_done_when import scenario  # noqa: E402

from cdp_google_ads import SPEC as GOOGLE  # noqa: E402
from cdp_google_ads.emulator import GoogleAdsEmulator  # noqa: E402
from cdp_google_ads.identifiers import google_identifiers  # noqa: E402
from cdp_meta import SPEC as META  # noqa: E402
from cdp_meta.emulator import MetaEmulator  # noqa: E402
from cdp_meta.identifiers import meta_identifiers  # noqa: E402
from connector.plugin.spec import EmulatorOptions  # noqa: E402
from connector.testing.context import make_context  # noqa: E402


def hashing_rate(n: int = 50_000) -> dict[str, float]:
    crowd = [p.recipient for p in people(n, seed=3, offset=5_000_000).values()]
    out = {}
    for name, fn in (("meta", meta_identifiers), ("google", google_identifiers)):
        started = time.perf_counter()
        for r in crowd:
            fn(r.email, r.phone, r.match, default_region="US")
        out[f"{name}_recipients_per_s"] = round(n / (time.perf_counter() - started))
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30_000
    work = Path(tempfile.mkdtemp())
    opts = EmulatorOptions(limits="off")
    with MetaEmulator(opts) as meta_emu, GoogleAdsEmulator(opts) as google_emu:

        def meta_sink():
            settings = META.settings_model.model_validate(
                {
                    "ad_account_id": "111",
                    "access_token": MetaEmulator.access_token,
                    "base_url": meta_emu.base_url,
                }
            )
            return META.sink(settings, make_context(work))  # type: ignore[misc]

        def google_sink():
            settings = GOOGLE.settings_model.model_validate(
                {
                    "operating_account_id": "1234567890",
                    "user_lists": {"high_value": "9001", "at_risk": "9002", "lapsed": "9003"},
                    "base_url": google_emu.base_url,
                    "token_url": f"{google_emu.base_url}/token",
                    "client_id": GoogleAdsEmulator.client_id,
                    "client_secret": GoogleAdsEmulator.client_secret,
                    "refresh_token": GoogleAdsEmulator.refresh_token,
                    "terms_of_service_accepted": True,
                    "status_poll_interval": 0.05,
                }
            )
            return GOOGLE.sink(settings, make_context(work))  # type: ignore[misc]

        started = time.perf_counter()
        report = scenario(n, meta_emu, meta_sink, google_emu, google_sink)
        report["scenario_total_s"] = round(time.perf_counter() - started, 2)
    report.update(hashing_rate())
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
