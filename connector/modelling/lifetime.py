"""Per-profile lifetime value from a feature frame: BG/NBD x Gamma-Gamma, discounted.

Only buyers (orders > 0) have a BTYD summary; other profiles get zeros here and are scored by
the propensity classifier (or its fallback rate) instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from connector.modelling.bgnbd import (
    BgNbdParams,
    expected_purchases_multi,
    fit_bgnbd,
    median_days_to_next_purchase,
    p_alive,
    prob_purchase,
)
from connector.modelling.gammagamma import GammaGammaParams, expected_spend, fit_gamma_gamma
from connector.modelling.settings import ModelSettings


@dataclass(frozen=True)
class LifetimeModel:
    """The fitted pair; JSON-able through `to_dict` for the model card."""

    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams

    def to_dict(self) -> dict[str, Any]:
        """Parameters as JSON-able values (a non-finite likelihood becomes None)."""

        def clean(d: dict[str, Any]) -> dict[str, Any]:
            return {
                k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in d.items()
            }

        return {"bgnbd": clean(asdict(self.bgnbd)), "gamma_gamma": clean(asdict(self.gamma_gamma))}


def fit_lifetime(features: pd.DataFrame) -> LifetimeModel:
    """Fit BG/NBD and Gamma-Gamma on the buyers of a feature frame (time unit: days)."""
    buyers = features[features["orders"] > 0]
    bg = fit_bgnbd(buyers["frequency"].to_numpy(), buyers["t_x"].to_numpy(), buyers["T"].to_numpy())
    gg = fit_gamma_gamma(buyers["frequency"].to_numpy(), buyers["monetary"].to_numpy())
    return LifetimeModel(bg, gg)


def score_lifetime(
    model: LifetimeModel, features: pd.DataFrame, settings: ModelSettings
) -> pd.DataFrame:
    """BTYD outputs per profile (index aligned with `features`). Never NaN or inf.

    Columns: bg_p_alive (diagnostic only, never a churn ranking), bg_p_purchase_<h>d and
    bg_expected_<h>d for the propensity and churn horizons, expected_purchases (over
    expected_purchases_horizon_days), expected_spend, clv (discounted, clv_horizon_days),
    days_to_next_order, and the classifier's BTYD ratios (`btyd_ratios`)."""
    x = features["frequency"].to_numpy(dtype=float)
    t_x = features["t_x"].to_numpy(dtype=float)
    T = features["T"].to_numpy(dtype=float)
    buyer = features["orders"].to_numpy() > 0
    bg = model.bgnbd
    out = pd.DataFrame(index=features.index)
    out["bg_p_alive"] = np.where(buyer, p_alive(bg, x, t_x, T), 0.0)
    horizons = sorted({settings.propensity_horizon_days, settings.churn_horizon_days})
    for h in horizons:
        out[f"bg_p_purchase_{h}d"] = np.where(buyer, prob_purchase(bg, x, t_x, T, h), 0.0)
    spend = expected_spend(model.gamma_gamma, x, features["monetary"].to_numpy(dtype=float))
    # Discounted CLV: purchases expected in each 30-day period times spend, discounted monthly.
    periods = int(np.ceil(settings.clv_horizon_days / 30.0))
    months = [min(30.0 * m, float(settings.clv_horizon_days)) for m in range(1, periods + 1)]
    cum = expected_purchases_multi(
        bg,
        x,
        t_x,
        T,
        [float(settings.expected_purchases_horizon_days), *map(float, horizons), *months],
    )
    out["expected_purchases"] = np.where(buyer, cum[:, 0], 0.0)
    for i, h in enumerate(horizons, start=1):
        out[f"bg_expected_{h}d"] = np.where(buyer, cum[:, i], 0.0)
    by_month = cum[:, 1 + len(horizons) :]
    out["expected_spend"] = np.where(buyer, spend, 0.0)
    monthly = (1.0 + settings.discount_rate_annual) ** (1.0 / 12.0)
    per_month = np.diff(by_month, axis=1, prepend=0.0)
    clv = per_month @ (1.0 / monthly ** np.arange(1, periods + 1))
    out["clv"] = np.where(buyer, clv * spend, 0.0)
    wait = median_days_to_next_purchase(bg, x, T)
    out["days_to_next_order"] = np.where(
        buyer, np.minimum(wait, settings.next_order_cap_days), float(settings.next_order_cap_days)
    )
    out = pd.concat([out, btyd_ratios(features)], axis=1)
    return out.fillna(0.0).replace([np.inf, -np.inf], 0.0)


def btyd_ratios(features: pd.DataFrame) -> pd.DataFrame:
    """x / T (repeat purchase-days per day of life) and t_x / T (where in its life a
    customer's last repeat fell: near 1 recent, near 0 long quiet), both 0 without a repeat.

    The ratios the BTYD likelihood is built on; neither boosting (axis-aligned splits) nor the
    log-scaled linear model forms them from frequency, t_x and T. Plain arithmetic on one
    row, so it runs the same on any backend."""
    x = features["frequency"].to_numpy(dtype=float)
    t_x = features["t_x"].to_numpy(dtype=float)
    life = np.maximum(features["T"].to_numpy(dtype=float), 1.0)
    repeat = (features["orders"].to_numpy() > 0) & (x > 0)
    return pd.DataFrame(
        {
            "repeat_rate": np.where(repeat, x / life, 0.0),
            "recency_share": np.where(repeat, np.minimum(t_x / life, 1.0), 0.0),
        },
        index=features.index,
    )
