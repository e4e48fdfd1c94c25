"""Privacy requests: erasure by keyed hash, suppression, and the erasure audit log."""
