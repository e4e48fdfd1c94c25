"""Shared HTTP plumbing: rate budgets (proactive), retry policy (reactive), status actions."""

from connector.http.budget import RateBudget
from connector.http.classify import DEFAULT_ACTIONS, Action, action_for, raise_for_status
from connector.http.retry import RetryPolicy, parse_retry_after

__all__ = [
    "DEFAULT_ACTIONS",
    "Action",
    "RateBudget",
    "RetryPolicy",
    "action_for",
    "parse_retry_after",
    "raise_for_status",
]
