"""Scores and segments: two engines behind one `ModelOutput` (`output`).

`rfm` is the RFM engine (tiers from recency, frequency, monetary quintiles). The full engine is
`engine.run_models`, composed of the named stages in `stages` and `training` (features, lifetime
value, propensity and churn, clusters, segments with holdouts, drift, model cards); `delivery`
rounds and types its scores for destinations. Settings live apart (`settings`, `rfm_settings`):
loading the config must not pull in scikit-learn and scipy.
"""
