"""Cluster naming rules with absolute anchors (issue 16 item 7).

Before, customers 477-515 days past their last order were named "Steady" (recency was judged
against the other buyers only), every cluster of an all-one-time-buyer shop was "... low
spenders", and 5 profiles got 4 clusters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from connector.modelling.clusters import fit_clusters, max_clusters
from connector.modelling.naming import describe_cluster, name_cluster, recency_state
from connector.modelling.settings import ModelSettings

Z = dict.fromkeys(
    ("recency_days", "orders", "aov", "revenue_365d", "engagement", "tenure_days"), 0.0
)


def _people(
    n: int, recency: float, orders: float, tenure: float, aov: float = 50.0
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "profile_id": [f"p{i}" for i in range(n)],
            "recency_days": np.full(n, recency),
            "orders": np.full(n, orders),
            "aov": np.full(n, aov),
            "clv": np.full(n, aov * orders / 4),
            "churn_risk": np.full(n, 0.5),
            "tenure_days": np.full(n, tenure),
            "revenue_365d": np.full(n, aov),
        }
    )


@pytest.mark.parametrize(
    ("days", "state"),
    [(0, "Active"), (45, "Active"), (46, "Steady"), (90, "Steady"), (91, "Cooling"),
     (180, "Cooling"), (181, "Lapsed"), (477, "Lapsed"), (515, "Lapsed")],
)  # fmt: skip
def test_recency_state_has_absolute_day_thresholds(days: float, state: str) -> None:
    assert recency_state(days, 90) == state


def test_a_year_past_the_last_order_is_lapsed_even_when_everyone_is() -> None:
    members = _people(40, recency=480, orders=4, tenure=900)
    everyone = pd.concat([members, _people(200, recency=700, orders=3, tenure=1000)])
    name = name_cluster(Z, members, everyone, set())
    assert name.startswith("Lapsed"), name


def test_one_time_buyers_are_one_off_buyers_not_low_spenders() -> None:
    members = _people(50, recency=20, orders=1, tenure=20, aov=5.0)
    everyone = pd.concat([members, _people(50, recency=30, orders=1, tenure=30, aov=90.0)])
    assert name_cluster(Z, members, everyone, set()) == "Active one-off buyers"
    # a second cluster with the same words is told apart by tenure in days: "new" is short
    assert name_cluster(Z, members, everyone, {"Active one-off buyers"}) == (
        "Active new one-off buyers"
    )
    old = _people(50, recency=20, orders=1, tenure=800)
    assert name_cluster(Z, old, everyone, {"Active one-off buyers"}) == (
        "Active long-standing one-off buyers"
    )


def test_description_states_the_thresholds() -> None:
    members = _people(30, recency=100, orders=3, tenure=400)
    text = describe_cluster(Z, members, members, 90)
    assert "Active up to 45, Steady up to 90, Cooling up to 180, Lapsed beyond" in text


def test_clusters_are_bounded_by_the_data() -> None:
    tiny = _people(5, recency=10, orders=2, tenure=100)
    tiny["recency_days"] = [1.0, 5.0, 20.0, 60.0, 300.0]
    tiny["eng_email_opened"] = 0.0
    fit = fit_clusters(tiny, ModelSettings(), None)
    assert fit.k == 1
    assert max_clusters(np.zeros((500, 3))) == 1  # identical rows: one cluster
    assert len({c["id"] for c in fit.clusters}) == 1
