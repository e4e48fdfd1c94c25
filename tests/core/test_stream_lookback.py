"""A stream's lookback: the source's ``lookback``, a stream's own longer default, or the
per-stream ``stream_lookback`` setting, which wins over both (issue 12)."""

from __future__ import annotations

from datetime import timedelta

from connector.config.models import SourceConfig


def test_the_longer_of_source_and_stream_default_applies_unless_configured() -> None:
    cfg = SourceConfig.model_validate({"plugin": "x", "lookback": "1h"})
    assert cfg.lookback_for("profiles") == timedelta(hours=1)
    assert cfg.lookback_for("events", timedelta(hours=72)) == timedelta(hours=72)
    wide = SourceConfig.model_validate({"plugin": "x", "lookback": "100h"})
    assert wide.lookback_for("events", timedelta(hours=72)) == timedelta(hours=100)
    set_ = SourceConfig.model_validate(
        {"plugin": "x", "lookback": "1h", "stream_lookback": {"events": "2h"}}
    )
    assert set_.lookback_for("events", timedelta(hours=72)) == timedelta(hours=2)
    assert set_.lookback_for("profiles", None) == timedelta(hours=1)
