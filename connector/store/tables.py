"""DDL of the data store. Timestamps are naive UTC ``TIMESTAMP`` (DuckDB compares them fast and
the modelling SQL stays portable); JSON is stored as text."""

from __future__ import annotations

__all__ = ["DDL"]

DDL = [
    # identity of the store (generation id paired with the state store, profile-id salt)
    """CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS profile_records (
        source VARCHAR NOT NULL, source_id VARCHAR NOT NULL,
        email VARCHAR, phone VARCHAR, ids VARCHAR, id_sig VARCHAR NOT NULL,
        first_name VARCHAR, last_name VARCHAR, city VARCHAR, postal_code VARCHAR, country VARCHAR,
        created_at TIMESTAMP, updated_at TIMESTAMP,
        consent_email VARCHAR, consent_email_at TIMESTAMP,
        consent_sms VARCHAR, consent_sms_at TIMESTAMP,
        consent_ads VARCHAR, consent_ads_at TIMESTAMP,
        traits VARCHAR, run_id VARCHAR,
        PRIMARY KEY (source, source_id))""",
    # identifiers a source record carried before its source changed them (an email change):
    # unify still links them to the person, so what was recorded under the old address (events,
    # consent) stays with them instead of becoming a separate, consent-less profile
    """CREATE TABLE IF NOT EXISTS superseded_ids (
        source VARCHAR NOT NULL, source_id VARCHAR NOT NULL, id_key VARCHAR NOT NULL,
        run_id VARCHAR, PRIMARY KEY (source, source_id, id_key))""",
    # source records their source says are gone (deleted, archived, merged into another record);
    # the profile_records row stays so the person's identifiers stay in the graph
    """CREATE TABLE IF NOT EXISTS tombstones (
        source VARCHAR NOT NULL, source_id VARCHAR NOT NULL, deleted_at TIMESTAMP,
        merged_into VARCHAR, run_id VARCHAR, PRIMARY KEY (source, source_id))""",
    """CREATE TABLE IF NOT EXISTS events (
        event_id VARCHAR PRIMARY KEY, source VARCHAR NOT NULL, source_event_id VARCHAR NOT NULL,
        type VARCHAR NOT NULL, occurred_at TIMESTAMP NOT NULL,
        email VARCHAR, phone VARCHAR, ids VARCHAR, id_sig VARCHAR NOT NULL,
        revenue DOUBLE, currency VARCHAR, properties VARCHAR,
        profile_id VARCHAR, run_id VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS identity_map (
        id_key VARCHAR PRIMARY KEY, profile_id VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS retired_profiles (
        profile_id VARCHAR PRIMARY KEY, merged_into VARCHAR NOT NULL, run_id VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS learned_ids (
        profile_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, value VARCHAR NOT NULL,
        destination VARCHAR, PRIMARY KEY (profile_id, kind))""",
    # platform records our destinations created (a Klaviyo profile imported for a HubSpot
    # contact), by the identifier kind and value the sink learned: a source reading one back
    # reads an echo of our own write, which never keeps a person active
    # (``connector.identity.lifecycle``); stores from before it gain the table when opened
    """CREATE TABLE IF NOT EXISTS created_ids (
        kind VARCHAR NOT NULL, value VARCHAR NOT NULL, destination VARCHAR, run_id VARCHAR,
        PRIMARY KEY (kind, value))""",
    """CREATE TABLE IF NOT EXISTS id_set_profile (
        id_sig VARCHAR PRIMARY KEY, profile_id VARCHAR NOT NULL)""",
    # the identity graph the last unify resolved: the keys that can join each node (a profile
    # record, or events' identifier set), and its id signature with a digest of its record; the
    # next unify re-resolves only what changed since (``connector.identity.graph``)
    """CREATE TABLE IF NOT EXISTS identity_edges (
        ref VARCHAR NOT NULL, key VARCHAR NOT NULL, digest UBIGINT)""",
    # profiles that held an event since sent again (its identifiers or content may have
    # changed): the next unify rebuilds them even where their part of the graph did not change
    """CREATE TABLE IF NOT EXISTS events_replaced (profile_id VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS identities (
        profile_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, value VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS merges (
        profile_id VARCHAR NOT NULL, record_a VARCHAR NOT NULL, record_b VARCHAR NOT NULL,
        via_kind VARCHAR NOT NULL, via_value VARCHAR NOT NULL, accepted BOOLEAN NOT NULL,
        note VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS profiles (
        profile_id VARCHAR PRIMARY KEY, email VARCHAR, phone VARCHAR,
        first_name VARCHAR, last_name VARCHAR, city VARCHAR, postal_code VARCHAR, country VARCHAR,
        created_at TIMESTAMP, updated_at TIMESTAMP,
        consent_email VARCHAR, consent_sms VARCHAR, consent_ads VARCHAR,
        sources VARCHAR, traits VARCHAR)""",
    # profiles whose every source record is a tombstone: kept out of `profiles` (not scored, not
    # activated), their identities kept so destinations can still be told to remove them
    """CREATE TABLE IF NOT EXISTS inactive_profiles (profile_id VARCHAR PRIMARY KEY)""",
    # profiles a privacy request is erasing: inactive like the above until every destination
    # has removed them, then purged with everything else stored about them
    """CREATE TABLE IF NOT EXISTS erasing_profiles (
        profile_id VARCHAR PRIMARY KEY, request_id VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS activations (
        segment_id VARCHAR NOT NULL, profile_id VARCHAR NOT NULL, holdout BOOLEAN NOT NULL,
        run_id VARCHAR NOT NULL, activated_at TIMESTAMP NOT NULL,
        PRIMARY KEY (segment_id, profile_id))""",
    """CREATE TABLE IF NOT EXISTS memberships (
        profile_id VARCHAR NOT NULL, segment_id VARCHAR NOT NULL, holdout BOOLEAN NOT NULL)""",
]
