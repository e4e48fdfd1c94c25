"""Demo data and the ``connector demo`` flow."""
