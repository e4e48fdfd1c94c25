"""Files sink: the destination's current state as files, under the same plan/apply rules.

``traits.<fmt>`` holds one row per profile (its delivered traits), ``memberships.<fmt>`` one
row per (segment, profile). Each batch is applied to the in-memory state and both files are
replaced atomically (write to a temporary file, fsync, rename) before the batch is
acknowledged, so a batch re-sent after a crash lands once.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from cdp_files.settings import FilesSettings
from cdp_files.spreadsheet import from_cell, to_cell
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

    Left to pandas, a column of ints with one gap becomes float ("11.0"), and values read back
    from an earlier file stay text ("11"): the same score would be written two ways depending on
    which batch (or which run, after a crash) wrote it, and a missing value became "None" in
    Parquet.
    """
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class FilesSink(SinkBase):
    # An export is typically uploaded to an ad tool or a mailer we cannot see, so it is gated
    # like an ad audience: nobody who denied ads consent is written, and a withdrawal removes
    # the person's traits row and memberships. Default policy not_denied (the file's consumer
    # applies its own consent); ``consent_policy = "strict"`` exports explicit grants only.
    consent: Literal["email", "ads"] | None = "ads"
    trait_consent: Literal["email", "ads"] | None = "ads"
    consent_policy: Literal["strict", "not_denied"] = "not_denied"

    def __init__(self, settings: FilesSettings, ctx: PluginContext) -> None:
        root = settings.path if settings.path.is_absolute() else ctx.config_dir / settings.path
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.settings = settings
        self.ext = settings.format
        self._traits: dict[str, dict[str, Any]] | None = None
        self._members: dict[tuple[str, str], dict[str, Any]] = {}
        self._trait_names: list[str] = []

    @property
    def traits_path(self) -> Path:
        return self.root / f"traits.{self.ext}"

    @property
    def memberships_path(self) -> Path:
        return self.root / f"memberships.{self.ext}"

    def batch_size(self, kind: str) -> int:
        return self.settings.batch_size

    def _read(self, path: Path) -> pd.DataFrame:
        if not path.exists():
            return pd.DataFrame()
        if self.ext == "csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False).map(from_cell)
        return pd.read_parquet(path)

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None:
        self._trait_names = [t.name for t in traits]
        current = self._read(self.traits_path)
        self._traits = {}
        for row in current.to_dict("records"):
            pid = str(row.pop("profile_id"))
            self._traits[pid] = {str(k): v for k, v in row.items() if v not in ("", None)}
        members = self._read(self.memberships_path)
        self._members = {
            (str(r["segment_id"]), str(r["profile_id"])): {str(k): v for k, v in r.items()}
            for r in members.to_dict("records")
        }

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        traits = self._state()
        for ch in changes:
            pid = ch.recipient.profile_id
            if ch.kind is ChangeKind.UPSERT and not ch.traits and ch.unset:
                traits.pop(pid, None)  # withdrawn: everything delivered before is unset
            elif ch.kind is ChangeKind.UPSERT:
                traits[pid] = {"email": ch.recipient.email or "", **dict(ch.traits)}
            elif ch.kind is ChangeKind.ADD and ch.segment is not None:
                self._members[(ch.segment.id, pid)] = {
                    "segment_id": ch.segment.id,
                    "segment_name": ch.segment.name,
                    "profile_id": pid,
                    "email": ch.recipient.email or "",
                }
            elif ch.kind is ChangeKind.REMOVE and ch.segment is not None:
                self._members.pop((ch.segment.id, pid), None)
        self._flush()
        return [Outcome.ok() for _ in changes]

    def _state(self) -> dict[str, dict[str, Any]]:
        if self._traits is None:
            self.prepare([], [])
        if self._traits is None:  # pragma: no cover - prepare always sets it
            raise RuntimeError("files sink state was not loaded")
        return self._traits

    def _flush(self) -> None:
        traits = self._state()
        names = sorted({k for t in traits.values() for k in t} - {"email"})
        rows = [
            {"profile_id": pid, "email": t.get("email", ""), **{n: _text(t.get(n)) for n in names}}
            for pid, t in sorted(traits.items())
        ]
        self._write(pd.DataFrame(rows, columns=["profile_id", "email", *names]), self.traits_path)
        members = [self._members[k] for k in sorted(self._members)]
        self._write(
            pd.DataFrame(members, columns=["segment_id", "segment_name", "profile_id", "email"]),
            self.memberships_path,
        )

    def _write(self, frame: pd.DataFrame, path: Path) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                if self.ext == "csv":  # cells a spreadsheet would evaluate are made inert
                    fh.write(frame.astype(str).map(to_cell).to_csv(index=False).encode())
                else:
                    frame.astype(str).to_parquet(fh, index=False)  # values are text already
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def close(self) -> None:
        self._traits = None
