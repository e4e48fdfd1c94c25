"""Desired state: what every destination should hold after this run.

Built from the data store after modelling: per profile the traits we deliver and the identifiers
destinations key on, per segment the members to activate (holdout members never are).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from connector.plugin.changes import Recipient, SegmentRef, TraitSpec
from connector.store.datastore import DataStore

__all__ = ["DesiredState", "build_desired", "traits_digest"]

_MATCH_FIELDS = ("first_name", "last_name", "city", "postal_code", "country")


def _clean(value: Any, digits: int | None = None) -> Any:
    """JSON-stable trait values: floats rounded (to the trait's ``precision``, else 6 decimals),
    ISO dates, no NaN."""
    if value is None or value is pd.NA or value is pd.NaT:  # pandas' missing values
        return None
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        rounded = round(value, 6 if digits is None else digits)
        return int(rounded) if rounded.is_integer() else rounded
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item(), digits)
    return value


# one encoder for every digest: ``json.dumps`` with options builds a new one per call, which
# was a third of planning a profile (the text, and so every digest, is the same)
_DIGEST_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def traits_digest(traits: Mapping[str, Any]) -> str:
    text = _DIGEST_JSON.encode(traits)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(slots=True)
class DesiredState:
    trait_specs: list[TraitSpec]
    segments: list[SegmentRef]
    traits: dict[str, dict[str, Any]] = field(default_factory=dict)
    recipients: dict[str, Recipient] = field(default_factory=dict)
    consent: dict[str, dict[str, str]] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    holdouts: dict[str, set[str]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    """Retired profile id → the profile it merged into."""
    departed: dict[str, Recipient] = field(default_factory=dict)
    """Inactive profiles (every source record gone): addressable for removal, never wanted."""
    retired_ids: dict[str, dict[str, str]] = field(default_factory=dict)
    """Retired profile id → destination ids learned for it that its survivor already had of
    the same kind (two platform records of one person): removals must reach both."""
    erasing: set[str] = field(default_factory=set)
    """Profiles a privacy request erases: the traits delivered to them are cleared too."""


def _departed(
    store: DataStore, ids: dict[str, dict[str, str]], emails: dict[str, list[str]]
) -> dict[str, Recipient]:
    """Recipients of inactive profiles, from their identities (they have no profile row)."""
    out: dict[str, Recipient] = {}
    for pid, phone in store.con.execute(
        """SELECT i.profile_id, min(p.value) FROM inactive_profiles i
           LEFT JOIN identities p ON p.profile_id = i.profile_id AND p.kind = 'phone'
           GROUP BY 1 ORDER BY 1"""
    ).fetchall():
        found = emails.get(pid, [])
        out[pid] = Recipient(
            profile_id=pid,
            email=found[0] if found else None,
            phone=phone,
            ids=ids.get(pid, {}),
            other_emails=tuple(found[1:]),
        )
    return out


def build_desired(
    store: DataStore,
    scores: pd.DataFrame,
    memberships: pd.DataFrame,
    trait_specs: list[TraitSpec],
    segments: list[SegmentRef],
    profile_ids: Sequence[str] | None = None,
) -> DesiredState:
    """Everyone's desired state, or (``profile_ids``) only those profiles' recipients, consent
    and memberships: what ``connector stream`` plans for the profiles an event touched."""
    state = DesiredState(trait_specs=trait_specs, segments=segments)
    only = ""
    if profile_ids is not None:
        store.con.register("_desired_only", pd.DataFrame({"pid": list(profile_ids)}, dtype=str))
        only = "AND profile_id IN (SELECT pid FROM _desired_only)"
    try:
        _fill(state, store, scores, memberships, segments, only)
    finally:
        if profile_ids is not None:
            store.con.unregister("_desired_only")
    return state


def _fill(
    state: DesiredState,
    store: DataStore,
    scores: pd.DataFrame,
    memberships: pd.DataFrame,
    segments: list[SegmentRef],
    only: str,
) -> None:
    trait_specs = state.trait_specs
    names = [t.name for t in trait_specs if t.name in scores.columns]
    digits = {t.name: t.precision for t in trait_specs if t.type == "number"}
    values = scores.set_index("profile_id")[names] if names else pd.DataFrame()
    ids: dict[str, dict[str, str]] = defaultdict(dict)
    emails: dict[str, list[str]] = defaultdict(list)
    for pid, kind, value in store.con.execute(
        f"SELECT profile_id, kind, value FROM identities WHERE kind <> 'phone' {only} "
        "ORDER BY 1, 2, 3"
    ).fetchall():
        if kind == "email":
            emails[pid].append(value)
        else:
            ids[pid].setdefault(kind, value)
    profiles = store.con.execute(
        f"""SELECT profile_id, email, phone, consent_email, consent_sms, consent_ads,
                   {", ".join(_MATCH_FIELDS)} FROM profiles WHERE true {only}
            ORDER BY profile_id"""
    ).fetchall()
    # column lists and a row position per profile: ``to_dict("index")`` cost 11 of the 49 s
    # this function took at a million profiles, for the same Python values
    columns = {k: values[k].tolist() for k in names}
    position = {pid: i for i, pid in enumerate(values.index)} if names else {}
    for row in profiles:
        pid, email, phone, c_email, c_sms, c_ads, *match = row
        state.recipients[pid] = Recipient(
            profile_id=pid,
            email=email,
            phone=phone,
            ids=ids.get(pid, {}),
            match={k: v for k, v in zip(_MATCH_FIELDS, match, strict=True) if v},
            other_emails=tuple(e for e in emails.get(pid, ()) if e != email),
        )
        state.consent[pid] = {"email": c_email, "sms": c_sms, "ads": c_ads}
        at = position.get(pid)
        state.traits[pid] = (
            {}
            if at is None
            else {k: c for k in names if (c := _clean(columns[k][at], digits.get(k))) is not None}
        )
    state.departed = _departed(store, ids, emails) if not only else {}
    state.erasing = {
        str(r[0]) for r in store.con.execute("SELECT profile_id FROM erasing_profiles").fetchall()
    }
    state.aliases = dict(
        store.con.execute("SELECT profile_id, merged_into FROM retired_profiles").fetchall()
    )
    state.retired_ids = {pid: ids[pid] for pid in state.aliases if pid in ids}
    for seg in segments:
        state.members[seg.id] = set()
        state.holdouts[seg.id] = set()
    for pid, sid, holdout in memberships[["profile_id", "segment_id", "holdout"]].itertuples(
        index=False
    ):
        if sid in state.members and pid in state.recipients:
            (state.holdouts if holdout else state.members)[sid].add(pid)
