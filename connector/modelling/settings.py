"""Settings of the full engine (the `[model.core]` config section).

Every field has a default that works on a small shop's data; the config loader validates the
section against this model, so a typo fails loudly instead of silently using a default.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connector.modelling.expr import ExpressionError, parse
from connector.modelling.windows import parse_window_rule


class RuleSegment(BaseModel):
    """A segment defined by an expression over traits and scores, e.g.
    `churn_risk > 0.7 and clv_tier == "high"` (see `connector.modelling.expr`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Stable segment id, used as the list/audience key downstream.")
    name: str = Field(description="Human name shown to marketers and pushed as the list name.")
    expression: str = Field(description="Safe expression over feature and score columns.")
    realtime: bool = Field(
        False,
        description="Re-evaluated by `connector stream` as events arrive; may use window terms "
        "(count(product_viewed, 7d) >= 3, no order_completed within 1h; see README).",
    )

    @model_validator(mode="after")
    def _syntax(self) -> RuleSegment:
        # Names are checked against the real columns at run time; syntax fails at load time.
        if self.realtime:
            parse_window_rule(self.expression)
            return self
        try:
            parse(self.expression, None)
        except ExpressionError as exc:
            try:
                parse_window_rule(self.expression)
            except ExpressionError:
                raise exc from None
            raise ExpressionError(
                f"rule segment {self.id!r} uses window terms (count, within, ...): "
                "set realtime = true on it"
            ) from None
        return self


class ModelSettings(BaseModel):
    """Tunable knobs of `run_models`; frozen so one run sees one configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- horizons -------------------------------------------------------------------------
    propensity_horizon_days: int = Field(
        30, ge=1, description="Window of the purchase propensity score (p_purchase_30d)."
    )
    churn_horizon_days: int = Field(
        90, ge=1, description="A profile has churned when it does not buy for this many days."
    )
    expected_purchases_horizon_days: int = Field(
        90, ge=1, description="Horizon of `expected_purchases` (BG/NBD conditional expectation)."
    )
    clv_horizon_days: int = Field(365, ge=30, description="Horizon of the discounted CLV sum.")
    discount_rate_annual: float = Field(
        0.10, ge=0.0, le=1.0, description="Annual discount rate applied month by month to CLV."
    )
    next_order_cap_days: int = Field(
        730, ge=1, description="Expected next order dates further out than this are capped."
    )
    # --- feature engineering --------------------------------------------------------------
    engagement_half_life_days: float = Field(
        30.0, gt=0, description="Half-life of the time decay applied to engagement events."
    )
    top_categories: int = Field(
        8, ge=0, le=50, description="Number of most frequent categories given an affinity share."
    )
    # --- propensity / churn classifiers ---------------------------------------------------
    min_positives: int = Field(
        50,
        ge=1,
        description="Below this many positive (and negative) labels the classifier is not "
        "trained and the BG/NBD probability is used instead (stated in the model card).",
    )
    eval_share: float = Field(
        0.25, gt=0, lt=0.9, description="Share of training profiles held out for the model card."
    )
    max_training_rows: int = Field(
        100_000, ge=1000, description="Deterministic subsample cap for classifier training."
    )
    random_seed: int = Field(7, description="Seed of every stochastic step (determinism).")
    # --- sufficiency guard -----------------------------------------------------------------
    stale_after_days: int | None = Field(
        None,
        ge=1,
        description="A run whose newest event is more than this many days before as_of is "
        "stale: its predictive traits are held. Default: twice the longest horizon.",
    )
    min_buyers: int = Field(
        100, ge=0, description="Below this many buyers the predictive traits are held."
    )
    min_recent_buyers: int = Field(
        10,
        ge=0,
        description="Below this many buyers in the last propensity horizon the predictive "
        "traits are held.",
    )
    push_insufficient_scores: bool = Field(
        False,
        description="Push the predictive traits even when the data is stale or too thin "
        "(the model card and the run still say so).",
    )
    # --- clustering -----------------------------------------------------------------------
    k_min: int = Field(3, ge=2, description="Smallest number of clusters considered.")
    k_max: int = Field(8, ge=2, description="Largest number of clusters considered.")
    cluster_sample_size: int = Field(
        5_000, ge=500, description="Profiles sampled (deterministically) to choose k."
    )
    cluster_match_max_distance: float = Field(
        1.5,
        gt=0,
        description="Largest scaled centroid distance at which a new cluster inherits an old "
        "cluster's id; further away it is a genuinely new cluster with a new id.",
    )
    # --- rule segments and tiers ----------------------------------------------------------
    rule_segments: tuple[RuleSegment, ...] = Field(
        (), description="Rule segments: list of {id, name, expression}."
    )
    tier_cut_points: tuple[float, float] = Field(
        (0.5, 0.8),
        description="CLV quantiles separating low|medium and medium|high among buyers.",
    )
    # --- holdouts -------------------------------------------------------------------------
    holdout_share: float = Field(
        0.10, ge=0.0, lt=1.0, description="Share of each segment kept as an untouched control."
    )
    holdout_salt: str = Field(
        "cdp-holdout-v1", description="Salt of the holdout hash; change it to reshuffle controls."
    )
    # --- drift ----------------------------------------------------------------------------
    psi_warn: float = Field(0.1, ge=0, description="PSI above this warns.")
    psi_hold: float = Field(0.25, ge=0, description="PSI above this is a major shift.")
    segment_size_change_warn: float = Field(
        0.3, ge=0, description="Relative segment size change above this warns."
    )
    segment_size_change_hold: float = Field(
        0.6, ge=0, description="Relative segment size change above this is a major shift."
    )
    hold_on_drift: bool = Field(
        False, description="When true a major shift holds activation instead of only warning."
    )

    @model_validator(mode="after")
    def _check_bounds(self) -> ModelSettings:
        if self.k_min > self.k_max:
            raise ValueError("k_min must not exceed k_max")
        low, high = self.tier_cut_points
        if not 0 < low < high < 1:
            raise ValueError("tier_cut_points must satisfy 0 < low < high < 1")
        if self.psi_warn > self.psi_hold:
            raise ValueError("psi_warn must not exceed psi_hold")
        ids = [r.id for r in self.rule_segments]
        if len(ids) != len(set(ids)):
            raise ValueError("rule segment ids must be unique")
        return self
