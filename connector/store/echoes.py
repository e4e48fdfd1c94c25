"""Echoes: platform records that exist only because one of our destinations created them.

The Klaviyo destination imports a HubSpot contact into Klaviyo; the Klaviyo source then reads
that profile back like any other. Such a record is an echo of our own write: it must not keep a
person active once the record they came from is gone (deleted or archived upstream), or the
person would be activated forever. A sink reports the platform's id of a person as a learned id
(``Outcome.learned_ids``); when the change may have created the record and no source record or
earlier write knew that id, the record is ours and its id is kept in ``created_ids``.

The rule errs towards "ours": an id learned for a person we had not seen on that platform yet
(a record made between this run's pull and its writes, or a platform whose source is off) counts
as created, so such a person stops being activated when they are deleted upstream.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

__all__ = ["ECHO_RECORDS", "echo_records", "keep_created"]


def echo_records(records: str) -> str:
    """(source, source_id) of the rows of ``records`` (a relation with the columns of
    ``profile_records``) one of whose identifiers is a platform id we created; a record's
    identifiers are the ``ids`` JSON object (kind → value)."""
    return f"""(SELECT DISTINCT r.source, r.source_id FROM (
    SELECT source, source_id, k.kind, json_extract_string(ids, '$."' || k.kind || '"') AS value
    FROM {records}, unnest(json_keys(ids)) AS k(kind)) r
    JOIN created_ids c ON c.kind = r.kind AND c.value = r.value)"""


# the profile records that are echoes
ECHO_RECORDS = echo_records("profile_records")


def keep_created(
    con: duckdb.DuckDBPyConnection,
    destination: str,
    created: Sequence[tuple[str, str, str]],
    run_id: str,
) -> None:
    """Keep the (kind, value) ids of ``created`` (profile id, kind, value) that neither a
    source record nor an earlier write carried: the records our destination created."""
    if not created:
        return
    con.execute(
        """INSERT OR IGNORE INTO created_ids
           SELECT DISTINCT c.kind, c.value, ?, ? FROM
               (SELECT unnest(?) AS kind, unnest(?) AS value) c
           WHERE NOT EXISTS (SELECT 1 FROM identities i
                             WHERE i.kind = c.kind AND i.value = c.value)
           AND NOT EXISTS (SELECT 1 FROM learned_ids l
                           WHERE l.kind = c.kind AND l.value = c.value)""",
        [destination, run_id, [k for _, k, _ in created], [v for _, _, v in created]],
    )
