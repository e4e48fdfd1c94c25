"""Shared HTTP plumbing: settings vocabulary, rate budgets (proactive), retry policy (reactive),
status actions."""

from connector.http.budget import RateBudget
from connector.http.classify import (
    DEFAULT_ACTIONS,
    REFUSALS_SKIP,
    Action,
    NotJSONError,
    action_for,
    check_answer,
    error_for,
    json_body,
    json_object,
    raise_for_status,
)
from connector.http.retry import RetryPolicy, parse_retry_after
from connector.http.settings import HttpSettings, RenamedKey

__all__ = [
    "DEFAULT_ACTIONS",
    "REFUSALS_SKIP",
    "Action",
    "HttpSettings",
    "NotJSONError",
    "RateBudget",
    "RenamedKey",
    "RetryPolicy",
    "action_for",
    "check_answer",
    "error_for",
    "json_body",
    "json_object",
    "parse_retry_after",
    "raise_for_status",
]
