"""Human names and descriptions for clusters, from what distinguishes them.

Deterministic: the same centroid z-scores give the same words. A name is "<state> <value>"
("Lapsed high spenders", "Active frequent buyers"); profiles that never ordered are "browsers"
or "sign-ups". Names already taken get a qualifier from the next most distinctive trait.
"""

from __future__ import annotations

import pandas as pd

_LABELS = {
    "recency_days": ("days since last order", "more recent", "less recent"),
    "orders": ("orders", "more orders", "fewer orders"),
    "aov": ("average order value", "higher order values", "lower order values"),
    "revenue_365d": ("revenue in the last year", "more spend this year", "less spend this year"),
    "engagement": ("engagement", "more engaged", "less engaged"),
    "tenure_days": ("tenure", "longer tenure", "newer"),
}
_HIGH = 0.5


def _ratio(members: pd.Series, reference: pd.Series) -> float:
    ref = float(reference.median()) if len(reference) else 0.0
    own = float(members.median()) if len(members) else 0.0
    return own / ref if ref > 0 else (1.0 if own == 0 else 2.0)


def name_cluster(
    z: dict[str, float], members: pd.DataFrame, everyone: pd.DataFrame, used: set[str]
) -> str:
    """A short, unique, deterministic name for a cluster. Buyer clusters are compared with all
    buyers (median recency, CLV, AOV, orders), so "lapsed" means lapsed among customers."""
    never_ordered = len(members) == 0 or float((members["orders"] > 0).mean()) < 0.5
    if never_ordered:
        state = "Engaged" if z["engagement"] > _HIGH else "Cold"
        noun = "browsers" if z["engagement"] > -_HIGH else "sign-ups"
    else:
        state, noun = _buyer_words(members, everyone)
    name = f"{state} {noun}"
    if name not in used:
        return name
    return _qualified(state, noun, z, used)


def _buyer_words(members: pd.DataFrame, everyone: pd.DataFrame) -> tuple[str, str]:
    """State and value words for a buyer cluster, relative to all buyers."""
    mine = members[members["orders"] > 0]
    ref = everyone[everyone["orders"] > 0]
    recency = _ratio(mine["recency_days"], ref["recency_days"])
    if recency > 1.6:
        state = "Lapsed"
    elif recency < 0.6:
        state = "Active"
    elif float(mine["churn_risk"].mean()) > float(ref["churn_risk"].mean()) + 0.1:
        state = "Cooling"
    else:
        state = "Steady"
    clv = float(mine["clv"].mean()) / max(float(ref["clv"].mean()), 1e-9)
    aov = _ratio(mine["aov"], ref["aov"])
    orders = float(mine["orders"].mean()) / max(float(ref["orders"].mean()), 1e-9)
    if clv > 1.5 or (aov > 1.3 and clv > 0.8):
        noun = "high spenders"
    elif orders > 1.5:
        noun = "frequent buyers"
    elif orders < 0.7 and float(mine["orders"].median()) <= 1:
        noun = "one-off buyers"
    elif clv < 0.5 or aov < 0.7:
        noun = "low spenders"
    else:
        noun = "regular buyers"
    return state, noun


def _qualified(state: str, noun: str, z: dict[str, float], used: set[str]) -> str:
    """A unique variant of a taken name, qualified by the next most telling trait."""
    name = f"{state} {noun}"
    qualifiers = [
        ("new" if z["tenure_days"] < 0 else "long-standing"),
        ("engaged" if z["engagement"] > 0 else "quiet"),
        ("big-basket" if z["aov"] > 0 else "small-basket"),
    ]
    for q in qualifiers:
        candidate = f"{state} {q} {noun}"
        if candidate not in used:
            return candidate
    i = 2
    while f"{name} {i}" in used:
        i += 1
    return f"{name} {i}"


def describe_cluster(z: dict[str, float], members: pd.DataFrame, everyone: pd.DataFrame) -> str:
    """One sentence: size, key figures, and the traits that set the cluster apart."""
    share = len(members) / max(len(everyone), 1)
    buyers = members[members["orders"] > 0]
    parts = [f"{len(members):,} profiles ({share:.0%})"]
    if len(buyers):
        parts.append(
            f"median {buyers['recency_days'].median():.0f} days since last order, "
            f"{members['orders'].mean():.1f} orders on average, "
            f"AOV {buyers['aov'].median():.2f}, mean predicted CLV {members['clv'].mean():.2f}"
        )
    else:
        parts.append("no orders yet")
    ranked = sorted(z, key=lambda f: (-abs(z[f]), f))
    # Recency z > 0 means *more* days since the last order, i.e. less recent.
    traits = []
    for f in ranked[:3]:
        if abs(z[f]) < _HIGH:
            continue
        _, up, down = _LABELS[f]
        higher = z[f] > 0
        if f == "recency_days":
            higher = not higher
        traits.append(up if higher else down)
    if traits:
        parts.append("distinguished by " + ", ".join(traits) + " than average")
    return "; ".join(parts) + "."
