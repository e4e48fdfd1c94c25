"""The local data store (DuckDB): profiles, identities, events, features, scores, memberships."""

from connector.store.datastore import DataStore, identity_keys, identity_signature

__all__ = ["DataStore", "identity_keys", "identity_signature"]
