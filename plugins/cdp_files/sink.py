"""Files sink: the destination's current state as files, under the same plan/apply rules.

``traits.<fmt>`` holds one row per profile (its delivered traits), ``memberships.<fmt>`` one
row per (segment, profile). Each batch is appended to the journal (a part file, then one
manifest swapped atomically: ``journal``) before it is acknowledged, so a batch costs its own
size and one re-sent after a crash is not written twice; when the sink is closed the parts are
folded into both files once (``compact``). A run killed before that leaves the parts listed,
and the next run that opens the sink folds them in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from cdp_files.compact import compact
from cdp_files.journal import Journal
from cdp_files.settings import FilesSettings
from connector.sdk import (
    Change,
    ChangeKind,
    Outcome,
    PluginContext,
    SegmentRef,
    SinkBase,
    TraitSpec,
)

__all__ = ["FilesSink"]


def _text(value: Any) -> str:
    """One text form per value, whatever else is in the file.

    Left to pandas, a column of ints with one gap became float ("11.0"), and values read back
    from an earlier file stayed text ("11"): the same score would be written two ways depending
    on which batch (or which run, after a crash) wrote it.
    """
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _row(ch: Change) -> dict[str, Any] | None:
    """The journal row for one change (None for a membership change without a segment)."""
    row: dict[str, Any] = {
        "profile_id": ch.recipient.profile_id,
        "email": ch.recipient.email or "",
        "traits": None,
        "segment_id": None,
        "segment_name": None,
    }
    if ch.kind is ChangeKind.UPSERT and not ch.traits and (ch.unset or ch.clears):
        # withdrawn, erased, merged away or gone: the row leaves (even one delivered empty)
        return {**row, "op": "unset"}
    if ch.kind is ChangeKind.UPSERT:
        values = {k: _text(v) for k, v in ch.traits.items()}
        text = json.dumps({k: v for k, v in values.items() if v}, sort_keys=True)
        return {**row, "op": "upsert", "traits": text}
    if ch.segment is None:
        return None
    op = "add" if ch.kind is ChangeKind.ADD else "remove"
    return {**row, "op": op, "segment_id": ch.segment.id, "segment_name": ch.segment.name}


class FilesSink(SinkBase):
    # An export is typically uploaded to an ad tool or a mailer we cannot see, so it is gated
    # like an ad audience: nobody who denied ads consent is written, and a withdrawal removes
    # the person's traits row and memberships. Default policy not_denied (the file's consumer
    # applies its own consent); ``consent_policy = "strict"`` exports explicit grants only.
    consent: Literal["email", "ads"] | None = "ads"
    trait_consent: Literal["email", "ads"] | None = "ads"
    consent_policy: Literal["strict", "not_denied"] = "not_denied"
    # rows are keyed by profile id: a merged-away or departed profile's rows leave the files
    rows_per_profile = True

    def __init__(self, settings: FilesSettings, ctx: PluginContext) -> None:
        root = settings.path if settings.path.is_absolute() else ctx.config_dir / settings.path
        self.root = root  # made by prepare: a dry run or a plan leaves no empty folder behind
        self.settings = settings
        self.ext = settings.format
        self.journal = Journal(root)

    @property
    def traits_path(self) -> Path:
        return self.root / f"traits.{self.ext}"

    @property
    def memberships_path(self) -> Path:
        return self.root / f"memberships.{self.ext}"

    def batch_size(self, kind: str) -> int:
        return self.settings.batch_size

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.journal.sweep()  # parts written before a crash but never listed

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        rows = [row for ch in changes if (row := _row(ch)) is not None]
        if rows:
            self.journal.append(rows)
        return [Outcome.ok() for _ in changes]

    def close(self) -> None:
        """Fold the listed parts into the output files (also those a killed run left)."""
        parts = self.journal.paths()
        if parts:
            compact(self.root, self.ext, parts, self.traits_path, self.memberships_path)
            self.journal.clear()
