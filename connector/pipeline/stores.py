"""The data store and the state store belong together; a run refuses to start when they do not.

The state store's cursors say how far each source was read into the data store, and its ledger
says what was delivered from it. A data store lost (deleted, re-created empty, replaced) while
the state store survives would be filled with only what is newer than the cursors, and the
planner would then remove every membership it no longer sees; a lost state store next to a
full data store would forget which memberships this connector owns. So the first run binds the
two with one generation id written into both, and every run checks it before it reads or
writes anything. A workspace from before the id existed is bound if it looks consistent: the
data store holds source records exactly when the state store holds cursors or a ledger.

``connector run --full-refresh`` is the documented recovery: it resets every source cursor,
re-binds the stores, and so re-reads every source from the beginning. The ledger and the
profile-id salt (kept in both stores) survive, so profile ids stay the same and removals
still touch only memberships this connector added.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import make_url

from connector.errors import FatalError
from connector.state.schema import cursors, ledger, meta
from connector.store.datastore import first_row
from connector.workspace import Workspace

__all__ = ["StoresMismatchError", "bind_stores"]

log = logging.getLogger(__name__)

GENERATION = "generation"  # data store: store_meta key; state store: meta "data_generation"
STATE_GENERATION = "data_generation"
SALT = "id_salt"


class StoresMismatchError(FatalError):
    """The data store and the state store are not a pair; the message says how to recover."""


@dataclass(frozen=True, slots=True)
class _Seen:
    data_generation: str | None
    data_salt: str | None
    data_has_records: bool
    state_generation: str | None
    state_salt: str | None
    state_has_history: bool


def _state_label(ws: Workspace) -> str:
    return make_url(ws.state.url).render_as_string(hide_password=True)


def _data_meta(ws: Workspace, key: str) -> str | None:
    row = first_row(ws.data.con.execute("SELECT value FROM store_meta WHERE key = ?", [key]))
    return str(row[0]) if row else None


def _put_data_meta(ws: Workspace, key: str, value: str) -> None:
    ws.data.con.execute("INSERT OR REPLACE INTO store_meta VALUES (?, ?)", [key, value])


def _look(ws: Workspace) -> _Seen:
    records = ws.data.count("profile_records") + ws.data.count("events")
    with ws.state.engine.connect() as conn:
        values = dict(
            conn.execute(
                select(meta.c.key, meta.c.value).where(meta.c.key.in_([STATE_GENERATION, SALT]))
            ).all()
        )
        history = sum(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (cursors, ledger)
        )
    return _Seen(
        _data_meta(ws, GENERATION),
        _data_meta(ws, SALT),
        records > 0,
        values.get(STATE_GENERATION),
        values.get(SALT),
        history > 0,
    )


def _refusal(ws: Workspace, seen: _Seen) -> str | None:
    """Why the stores are not a pair (None when they are)."""
    data, state = ws.data.path, _state_label(ws)
    if seen.state_generation is not None:
        if seen.data_generation == seen.state_generation:
            return None
        lost = "data"
    elif seen.state_has_history == seen.data_has_records:
        return None
    else:
        lost = "data" if seen.state_has_history else "state"
    if lost == "data":
        return (
            f"the data store {data} is not the one the state store {state} was used with: it "
            "was lost, re-created empty or replaced, while the state store still holds the "
            "source cursors and the ledger of deliveries. A run now would re-read only records "
            "newer than the cursors and push a wrong state to every destination, so nothing "
            "was run. Restore the data store from a backup, or run `connector run "
            "--full-refresh` to re-read every source from the beginning into it (the ledger is "
            "kept, so memberships this connector added are still known as its own)."
        )
    return (
        f"the state store {state} has no cursors and no ledger, but the data store {data} "
        "holds records from earlier runs: the state store was lost or replaced. A run now would "
        "forget which list memberships and audiences this connector added, so nothing was run. "
        "Restore the state store from a backup, or run `connector run --full-refresh` to "
        "accept the loss: every source is re-read and every destination receives the full "
        "state again, but memberships added before the loss are no longer known as the "
        "connector's own and are never removed by it (remove them in the platform if needed)."
    )


def _new_salt(ws: Workspace) -> str:
    """A new workspace's profile-id salt: derived from ``identity.id_key`` when one is set (so a
    workspace rebuilt from the same sources mints the same ids), else random. Only a one-way
    derivation of the key is stored, never the key itself."""
    key = ws.config.identity.id_key
    if key is None:
        return secrets.token_hex(16)
    material = b"cdp-connector profile-id salt\x1f" + key.get_secret_value().encode()
    return hashlib.blake2b(material, digest_size=16).hexdigest()


def bind_stores(ws: Workspace, *, full_refresh: bool = False) -> None:
    """Refuse a run on stores that are not a pair; otherwise bind them (first run, upgrade or
    ``--full-refresh``, which also resets every source cursor)."""
    seen = _look(ws)
    reason = _refusal(ws, seen)
    if reason is not None and not full_refresh:
        raise StoresMismatchError(reason)
    # a pair keeps its id; a refused pair accepted by --full-refresh gets a new one
    generation = (seen.data_generation if reason is None else None) or secrets.token_hex(8)
    # the state store's salt wins: the ledger's profile ids were minted with it
    salt = seen.state_salt or seen.data_salt or _new_salt(ws)
    if seen.data_salt != salt:
        _put_data_meta(ws, SALT, salt)
    if seen.data_generation != generation:
        _put_data_meta(ws, GENERATION, generation)
    with ws.state.engine.begin() as conn:
        if full_refresh:
            conn.execute(delete(cursors))
        for key, value, old in (
            (STATE_GENERATION, generation, seen.state_generation),
            (SALT, salt, seen.state_salt),
        ):
            if value != old:
                conn.execute(delete(meta).where(meta.c.key == key))
                conn.execute(insert(meta).values(key=key, value=value))
    if full_refresh:
        log.warning("full refresh: every source cursor was reset; all sources are re-read")
