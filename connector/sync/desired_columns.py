"""The desired state held as columns, and the per-person views the planner reads lazily.

At a million profiles, building a ``Recipient``, a consent dict and a cleaned trait dict for
everyone took 40 s of every run's plan, though a run after a small change sends a few thousand
changes. The planner works on columns (trait values, consent, memberships: digests and gates
are computed column-wise, ``connector.sync.digests``); a person's ``Recipient`` and traits are
built only when a change about them is read (``LazyRows``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connector.sync.digests import fragments, rounded, row_digests, text_fragments
from connector.sync.traitvalues import clean

__all__ = [
    "ADDRESS",
    "MEMBER",
    "AddressMode",
    "DesiredColumns",
    "HeldIds",
    "Identities",
    "Known",
    "LazyRows",
    "MemberSets",
    "address_mode",
]

# a membership's digest: the person is in the segment (the address is not part of it)
MEMBER = "1"
# the digest's name for a recipient's e-mail: "@" starts no trait name (they are identifiers)
ADDRESS = "@email"
_MOVED = "@email?"  # the fragments of the e-mails of people with more than one, cached
# which e-mails a row's digest holds: none; only those of people with more than one address
# (one that changed upstream leaves the old one behind), so a changed address is sent again
# without changing anyone else's digest; every one (a destination writing it as data)
AddressMode = Literal["none", "moved", "all"]


def address_mode(rows_per_profile: bool) -> AddressMode:
    """The e-mails a destination's trait digests hold: every one where it writes them as data
    (``RowsPerProfile``), else those of people with more than one."""
    return "all" if rows_per_profile else "moved"


V = TypeVar("V")
MATCH_FIELDS = ("first_name", "last_name", "city", "postal_code", "country")


class LazyRows(Mapping[str, V]):
    """A read-only mapping by profile id whose values are built when read (never kept);
    ``many`` builds a batch of them at once (``build_many``: one pass over the columns)."""

    def __init__(
        self,
        index: Mapping[str, int],
        build: Callable[[int], V],
        build_many: Callable[[Sequence[int]], list[V]] | None = None,
    ) -> None:
        self._index = index
        self._build = build
        self._build_many = build_many

    def __getitem__(self, pid: str) -> V:
        return self._build(self._index[pid])

    def many(self, pids: Sequence[str]) -> list[V]:
        """The values of ``pids`` (each must be present), in order."""
        rows = [self._index[pid] for pid in pids]
        if self._build_many is not None:
            return self._build_many(rows)
        return [self._build(i) for i in rows]

    def __contains__(self, pid: object) -> bool:
        return pid in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


class Known(NamedTuple):
    """One profile's identifiers besides phone: ``ids`` by kind (the first value of each),
    ``emails``, and the kinds in ``ids`` whose platform record our destinations ``created``."""

    ids: dict[str, str]
    emails: list[str]
    created: frozenset[str]


_NOTHING = Known({}, [], frozenset())


def _split(kinds: Sequence[str], values: Sequence[str], made: Sequence[bool]) -> Known:
    ids: dict[str, str] = {}
    emails: list[str] = []
    created: set[str] = set()
    for kind, value, ours in zip(kinds, values, made, strict=True):
        if kind == "email":
            emails.append(value)
        elif kind not in ids:
            ids[kind] = value
            if ours:
                created.add(kind)
    return Known(ids, emails, frozenset(created))


class Identities:
    """Each profile's identifiers besides phone (ids by kind, emails), from one grouped query
    (``kinds``, ``values`` and ``created`` are list columns sorted by kind, then value;
    ``created``: whether one of our destinations created the record an id names), kept as
    Arrow and read a batch of profiles at a time: a run that sends a few thousand changes
    reads a few thousand people's, not a million (made Python lists whole, they cost seconds
    and a gigabyte at a million profiles)."""

    def __init__(
        self,
        pids: Sequence[str],
        kinds: pa.ChunkedArray,
        values: pa.ChunkedArray,
        created: pa.ChunkedArray,
    ) -> None:
        self._pids = pids
        self._at = {pid: i for i, pid in enumerate(pids)}
        # one chunk each: a take from many chunks may join them first (a copy per batch)
        self._kinds = kinds.combine_chunks()
        self._values = values.combine_chunks()
        self._created = created.combine_chunks()

    @property
    def pids(self) -> Sequence[str]:
        return self._pids

    def of(self, pid: str) -> Known:
        """One profile's identifiers."""
        return self.of_many([pid])[0]

    def of_many(self, pids: Sequence[str]) -> list[Known]:
        """``of`` for each of ``pids`` (one that has none: nothing), read in one take."""
        at = [self._at.get(pid, -1) for pid in pids]
        rows = pa.array([i for i in at if i >= 0], type=pa.int64())
        if not len(rows):
            return [_NOTHING] * len(pids)
        kinds = iter(self._kinds.take(rows).to_pylist())
        values = iter(self._values.take(rows).to_pylist())
        made = iter(self._created.take(rows).to_pylist())
        return [_NOTHING if i < 0 else _split(next(kinds), next(values), next(made)) for i in at]

    def all_of(self, pid: str) -> dict[str, tuple[str, ...]]:
        """Every id of ``pid`` by kind (``of`` keeps the first of a kind only)."""
        at = self._at.get(pid, -1)
        found: dict[str, tuple[str, ...]] = {}
        if at >= 0:
            kinds, values = self._kinds[at].as_py(), self._values[at].as_py()
            for kind, value in zip(kinds, values, strict=True):
                found[kind] = (*found.get(kind, ()), value)
        return found

    def several_emails(self) -> pa.Array:
        """The profiles with more than one e-mail (``Recipient.other_emails`` is not empty),
        counted in the lists already read."""
        if not self._pids:
            return pa.array([], pa.string())
        emails = pc.equal(pc.list_flatten(self._kinds), "email").to_numpy(zero_copy_only=False)
        owner = pc.list_parent_indices(self._kinds).to_numpy()
        counts = np.bincount(owner[emails], minlength=len(self._pids))
        return pa.array(self._pids, pa.string()).filter(pa.array(counts > 1))


class HeldIds(Mapping[str, dict[str, tuple[str, ...]]]):
    """Each profile's ids by kind, all of them, read only for the profiles asked about (the
    planner asks for the survivors of a merge: ``connector.sync.apart``)."""

    def __init__(self, ident: Identities) -> None:
        self._ident = ident

    def __getitem__(self, pid: str) -> dict[str, tuple[str, ...]]:
        found = self._ident.all_of(pid)
        if not found:
            raise KeyError(pid)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._ident.pids)

    def __len__(self) -> int:
        return len(self._ident.pids)


class MemberSets(Mapping[str, set[str]]):
    """Per segment, the set of its profiles (built when a segment is read)."""

    def __init__(
        self, segment_ids: Sequence[str], pids: Sequence[str], sids: Sequence[str]
    ) -> None:
        self._segments = list(segment_ids)
        self._pids = pids
        self._sids = sids

    def __getitem__(self, sid: str) -> set[str]:
        if sid not in self._segments:
            raise KeyError(sid)
        return {p for p, s in zip(self._pids, self._sids, strict=True) if s == sid}

    def __iter__(self) -> Iterator[str]:
        return iter(self._segments)

    def __len__(self) -> int:
        return len(self._segments)


@dataclass(slots=True)
class DesiredColumns:
    """What the planner compares with the ledger, column-wise.

    ``pids``: the profiles whose traits are wanted, with ``traits`` (raw values per trait name,
    aligned with ``pids``) and ``consent`` (status per channel, aligned). ``member_pids`` and
    ``member_sids``: every wanted (non-holdout) membership of a profile with a recipient.
    """

    pids: list[str]
    traits: dict[str, np.ndarray | list[Any]]
    digits: dict[str, int | None]
    consent: dict[str, list[str | None]]
    member_pids: list[str]
    member_sids: list[str]
    addresses: pa.Array | None = None
    """Each row's e-mail (aligned with ``pids``): part of the digest for a destination that
    writes it as data (``RowsPerProfile``), so a changed address is sent again."""
    several: pa.Array | None = None
    """Per row, whether the person has more than one e-mail (aligned with ``pids``)."""
    _fragments: dict[str, list[str | None]] = field(default_factory=dict)
    _position: dict[str, int] | None = None

    @property
    def position(self) -> dict[str, int]:
        """Row of each profile in ``pids``."""
        if self._position is None:
            self._position = {pid: i for i, pid in enumerate(self.pids)}
        return self._position

    def values(self, i: int) -> dict[str, Any]:
        """Row ``i``'s cleaned trait values (no value left out), in trait order."""
        out: dict[str, Any] = {}
        for k, column in self.traits.items():
            value = column[i]
            if isinstance(value, np.generic):  # Python's ``round``, never numpy's
                value = value.item()
            if (c := clean(value, self.digits.get(k))) is not None:
                out[k] = c
        return out

    def digests(self, wanted: frozenset[str] | None, *, address: AddressMode = "none") -> list[str]:
        """Every row's ``traits_digest`` of its values (only the ``wanted`` traits), with
        the e-mails ``address`` names too (under ``ADDRESS``, a name no trait has)."""
        names = [k for k in self.traits if wanted is None or k in wanted]
        frags = {k: self.fragment_column(k) for k in names}
        if address != "none":
            frags[ADDRESS] = self.address_fragments(address)
        return row_digests(frags, len(self.pids))

    def address_fragments(self, address: AddressMode) -> list[str | None]:
        """The ``ADDRESS`` fragment per row under ``address`` ("none": no row has one)."""
        if address == "none":
            return [None] * len(self.pids)
        return self.fragment_column(ADDRESS if address == "all" else _MOVED)

    def member_digests(self, pids: pa.Array) -> pa.Array:
        """Per member (a profile id in ``pids``), the digest of its membership of a hashed
        audience, which holds the person under an address: ``MEMBER``, or for a person with
        more than one e-mail ``MEMBER`` and a hash of the current one. A changed address is
        then an add again (``Change.moved``) without changing anyone else's digest; a hash,
        so no address is kept in the ledger."""
        frags = self.address_fragments("moved")
        moved = [(self.pids[i], f) for i, f in enumerate(frags) if f is not None]
        if not moved or not len(pids):
            return pa.array([MEMBER] * len(pids), pa.string())
        digests = [f"{MEMBER}:{hashlib.sha256(f.encode()).hexdigest()[:16]}" for _, f in moved]
        at = pc.index_in(pids, value_set=pa.array([pid for pid, _ in moved], pa.string()))
        return pc.fill_null(pa.array(digests, pa.string()).take(at), MEMBER)

    def fragment_column(self, name: str) -> list[str | None]:
        """Every row's ``"name":value`` digest fragment (None: no value), computed once."""
        if name not in self._fragments:
            if name in (ADDRESS, _MOVED):
                found = self.addresses
                if found is None:
                    found = pa.nulls(len(self.pids), pa.string())
                if name == _MOVED:
                    several = self.several
                    if several is None:
                        several = pa.nulls(len(self.pids), pa.bool_())
                    found = pc.if_else(
                        pc.fill_null(several, False), found, pa.scalar(None, pa.string())
                    )
                self._fragments[name] = text_fragments(ADDRESS, found)
            else:
                self._fragments[name] = fragments(name, self.traits[name], self.digits.get(name))
        return self._fragments[name]

    def forget_fragments(self) -> None:
        """Drop the digest fragments (a text per profile and trait: about half a gigabyte at
        a million profiles) once every destination is planned; apply never reads them."""
        self._fragments.clear()

    def cleaned_at(self, name: str, rows: Sequence[int]) -> list[Any]:
        """The cleaned values of one trait at ``rows`` (as ``values`` gives them)."""
        column = self.traits[name]
        digits = self.digits.get(name)
        if isinstance(column, np.ndarray) and column.dtype.kind == "f":
            done, finite = rounded(column[np.asarray(rows, dtype=np.int64)], digits)
            return [
                (int(v) if v.is_integer() else v) if ok else None
                for v, ok in zip(done.tolist(), finite.tolist(), strict=True)
            ]
        out = []
        for i in rows:
            value = column[i]
            out.append(clean(value.item() if isinstance(value, np.generic) else value, digits))
        return out

    def consent_of(self, channel: str) -> list[str | None]:
        return self.consent.get(channel) or [None] * len(self.pids)
