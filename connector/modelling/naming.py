"""Human names and descriptions for clusters, from what distinguishes them.

Deterministic: the same centroid z-scores give the same words. A name is "<state> <value>"
("Lapsed high spenders", "Active frequent buyers"); profiles that never ordered are "browsers"
or "sign-ups". Names already taken get a qualifier from the next most distinctive trait.

The state has absolute anchors, in days since the members' last order (median), against the
churn horizon C (default 90): Active up to C/2, Steady up to C, Cooling up to 2C, Lapsed
beyond, so "Steady" or "Active" never describes people a year past their last order, whatever
the rest of the shop does. "One-off buyers" have a median of one order; "new" means a median
tenure of at most `NEW_DAYS`, "long-standing" at least `LONG_STANDING_DAYS`. Spend words
("high spenders", "low spenders") are relative to the shop's other buyers.
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
NEW_DAYS = 90
LONG_STANDING_DAYS = 365


# the columns of a scored frame that naming and descriptions read
NAMING_COLUMNS = ("orders", "recency_days", "clv", "aov", "tenure_days")


def recency_state(median_days: float, horizon_days: int) -> str:
    """The absolute recency word for a median number of days since the last order."""
    if median_days <= horizon_days / 2:
        return "Active"
    if median_days <= horizon_days:
        return "Steady"
    if median_days <= 2 * horizon_days:
        return "Cooling"
    return "Lapsed"


def naming_rule(horizon_days: int) -> str:
    """The thresholds behind the state word, as the cluster description states them."""
    h = horizon_days
    return (
        f"named by the median days since the last order: Active up to {h // 2}, Steady up to "
        f"{h}, Cooling up to {2 * h}, Lapsed beyond; new = tenure up to {NEW_DAYS} days"
    )


def _ratio(members: pd.Series, reference: pd.Series) -> float:
    ref = float(reference.median()) if len(reference) else 0.0
    own = float(members.median()) if len(members) else 0.0
    return own / ref if ref > 0 else (1.0 if own == 0 else 2.0)


def name_cluster(
    z: dict[str, float],
    members: pd.DataFrame,
    everyone: pd.DataFrame,
    used: set[str],
    horizon_days: int = 90,
) -> str:
    """A short, unique, deterministic name for a cluster: the state from the members' own
    recency (absolute days), the value word from their spend against all buyers."""
    never_ordered = len(members) == 0 or float((members["orders"] > 0).mean()) < 0.5
    if never_ordered:
        state = "Engaged" if z["engagement"] > _HIGH else "Cold"
        noun = "browsers" if z["engagement"] > -_HIGH else "sign-ups"
    else:
        state, noun = _buyer_words(members, everyone, horizon_days)
    name = f"{state} {noun}"
    if name not in used:
        return name
    return _qualified(state, noun, z, used, members)


def _buyer_words(
    members: pd.DataFrame, everyone: pd.DataFrame, horizon_days: int
) -> tuple[str, str]:
    """State (absolute recency) and value words (relative to all buyers) for a buyer cluster."""
    mine = members[members["orders"] > 0]
    ref = everyone[everyone["orders"] > 0]
    state = recency_state(float(mine["recency_days"].median()), horizon_days)
    if float(mine["orders"].median()) <= 1:
        return state, "one-off buyers"
    clv = float(mine["clv"].mean()) / max(float(ref["clv"].mean()), 1e-9)
    aov = _ratio(mine["aov"], ref["aov"])
    orders = float(mine["orders"].mean()) / max(float(ref["orders"].mean()), 1e-9)
    if clv > 1.5 or (aov > 1.3 and clv > 0.8):
        noun = "high spenders"
    elif orders > 1.5:
        noun = "frequent buyers"
    elif clv < 0.5 or aov < 0.7:
        noun = "low spenders"
    else:
        noun = "regular buyers"
    return state, noun


def _qualified(
    state: str, noun: str, z: dict[str, float], used: set[str], members: pd.DataFrame
) -> str:
    """A unique variant of a taken name, qualified by the next most telling trait."""
    name = f"{state} {noun}"
    tenure = float(members["tenure_days"].median()) if len(members) else 0.0
    qualifiers = [
        "new" if tenure <= NEW_DAYS else "long-standing" if tenure >= LONG_STANDING_DAYS else "",
        ("engaged" if z["engagement"] > 0 else "quiet"),
        ("big-basket" if z["aov"] > 0 else "small-basket"),
    ]
    for q in filter(None, qualifiers):
        candidate = f"{state} {q} {noun}"
        if candidate not in used:
            return candidate
    i = 2
    while f"{name} {i}" in used:
        i += 1
    return f"{name} {i}"


def describe_cluster(
    z: dict[str, float], members: pd.DataFrame, everyone: pd.DataFrame, horizon_days: int = 90
) -> str:
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
    if len(buyers):
        parts.append(naming_rule(horizon_days))
    return "; ".join(parts) + "."
