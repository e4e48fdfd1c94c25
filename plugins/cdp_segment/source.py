"""The Segment source: archive streams, the webhook spool, and optional Profile API enrichment.

Streams (all with opaque cursors carried in ``_cursor``):
- ``events`` / ``profiles``: the S3 archive (``archive_url``); see archive_source for the cursor.
- ``live`` / ``live_profiles``: the webhook spool; the cursor is the spool row number, zero
  padded so string order is numeric order.
- ``profile_api``: traits of the users this source saw identified during this run (the
  archive and live profile streams run first), read one by one from the Profile API within
  its rate limit. Cursor ``none``: it re-runs for whoever the run touched.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cdp_segment.archive import (
    ArchiveStore,
    event_mapper,
    profile_mapper,
    read_archive,
)
from cdp_segment.settings import SegmentSettings
from cdp_segment.webhook import spool_path
from cdp_segment.webhook.spool import Spool
from connector.sdk import (
    ConfigError,
    PluginContext,
    SkippableError,
    SourceRecord,
    Stream,
    event_record,
    profile_record,
)

__all__ = ["SegmentSource"]

_ARCHIVE = (
    Stream("events", "events", "opaque", "_cursor"),
    Stream("profiles", "profiles", "opaque", "_cursor"),
)
_LIVE = (
    Stream("live", "events", "opaque", "_cursor"),
    Stream("live_profiles", "profiles", "opaque", "_cursor"),
)
_ENRICH = Stream("profile_api", "profiles", "none", "_cursor")


class SegmentSource:
    def __init__(self, settings: SegmentSettings, context: PluginContext) -> None:
        self.settings = settings
        self.context = context
        self._store: ArchiveStore | None = None
        self._spool: Spool | None = None
        self.seen_users: set[str] = set()
        if settings.space_id and settings.profile_api_token is None:
            raise ConfigError("segment: space_id is set but profile_api_token is missing")

    def streams(self) -> Sequence[Stream]:
        out: list[Stream] = []
        if self.settings.archive_url:
            out.extend(_ARCHIVE)
        if self.settings.webhook_secret is not None or self._spool_file().exists():
            out.extend(_LIVE)
        if self.settings.space_id:
            out.append(_ENRICH)
        return out

    def live_streams(self) -> Sequence[Stream]:
        """The webhook spool's events, tailed by ``connector stream``."""
        return [_LIVE[0]] if self.settings.webhook_secret is not None else []

    def tail(self, stream: Stream, after: str | None) -> Iterator[SourceRecord]:
        """Spool rows after the mark ``after`` (a row number), never pruning: the scheduled
        run's own ``live`` cursor decides what may be dropped."""
        if stream.name != "live":
            raise ConfigError(f"segment: stream {stream.name!r} cannot be tailed")
        if self._spool is None:
            self._spool = Spool(self._spool_file())
        start = int(after) + 1 if after and after.isdigit() else 0
        yield from self._records(self._spool.read(start), profiles=False)

    def read(self, stream: Stream, since: str | None) -> Iterator[SourceRecord]:
        region = self.context.default_region
        if stream.name in ("events", "profiles"):
            store = self._archive()
            profiles = stream.name == "profiles"
            records = read_archive(
                store,
                since=since,
                late_days=self.settings.late_days,
                source_ids=self.settings.source_ids,
                mapper=profile_mapper(region) if profiles else event_mapper(region),
                prefilter=b"identify" if profiles else None,
                limits=self.settings.limits(),
            )
            yield from self._remember(records)
        elif stream.name in ("live", "live_profiles"):
            yield from self._remember(self._read_spool(stream.name == "live_profiles", since))
        elif stream.name == "profile_api":
            yield from self._enrich()
        else:
            raise ConfigError(f"segment: unknown stream {stream.name!r}")

    def _remember(self, records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for record in records:
            user = record.get("ids", {}).get("segment_user_id")
            if user and (record.get("type") == "identify" or "source_id" in record):
                self.seen_users.add(user)
            yield record

    def _archive(self) -> ArchiveStore:
        if self._store is None:
            if not self.settings.archive_url:
                raise ConfigError("segment: archive_url is not set")
            self._store = ArchiveStore(self.settings.archive_url, self.settings.storage_options)
        return self._store

    def _spool_file(self) -> Path:
        return spool_path(self.settings, self.context.workspace)

    def _read_spool(self, profiles: bool, since: str | None) -> Iterator[dict[str, Any]]:
        if self._spool is None:
            self._spool = Spool(self._spool_file())
        start = int(since) if since and since.isdigit() else 0
        if start and not profiles:
            # Rows before the committed mark are stored in the core: drop the old ones.
            retain = time.time() - self.settings.spool_retain_hours * 3600
            self._spool.prune(start, retain)
        yield from self._records(self._spool.read(start), profiles=profiles)

    def _records(
        self, rows: Iterator[tuple[int, str]], *, profiles: bool
    ) -> Iterator[dict[str, Any]]:
        region = self.context.default_region
        for seq, body in rows:
            try:
                msg = json.loads(body)
            except (ValueError, RecursionError):
                continue  # the receiver checked it; a spool written by an older version
            if profiles:
                record = profile_record(msg, region=region)
            else:
                src = str(msg.get("projectId") or "webhook")
                record = event_record(msg, source_id=src, region=region)
            if record is not None:
                record["_cursor"] = f"{seq:012d}"
                yield record

    def _enrich(self) -> Iterator[dict[str, Any]]:
        from cdp_segment.client import ProfileApi

        s = self.settings
        if not s.space_id or s.profile_api_token is None:
            return
        api = ProfileApi(
            s.profile_api_url,
            s.space_id,
            s.profile_api_token.get_secret_value(),
            rate=s.profile_api_rate,
            traits_limit=s.profile_api_traits_limit,
            timeout=s.timeout,
            retry=s.retry_policy(),
        )
        try:
            for user in sorted(self.seen_users):
                try:
                    traits = api.traits(f"user_id:{user}")
                except SkippableError as exc:
                    self.context.logger.warning("segment profile api: user skipped: %s", exc.reason)
                    continue
                if traits is None:
                    continue
                msg = {"type": "identify", "userId": user, "traits": traits}
                record = profile_record(msg, region=self.context.default_region)
                if record is not None:
                    record["source_id"] = f"profile_api:{user}"
                    record.pop("updated_at", None)
                    record["_cursor"] = ""
                    yield record
        finally:
            api.close()

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
