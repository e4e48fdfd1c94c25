"""Features, lifetime value, propensity and churn, segments, holdouts and drift."""
