"""The public API for plugin authors: every core name a plugin needs, from one module.

A plugin imports from ``connector.sdk`` only; the core's other modules may move between
releases, this list changes only with a CHANGELOG entry (``tests/core/test_sdk.py`` holds it).
Grouped as: the plugin contract (spec, protocols, change vocabulary), errors, HTTP plumbing,
input reading and identifier normalisation, hashed identifiers, batch delivery, emulators.
"""

from connector.emulator import (
    EmulatorServer,
    ErrorAnswer,
    RateLimit,
    RateLimiter,
    Request,
    Response,
)
from connector.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    FatalError,
    RetryableError,
    SkippableError,
)
from connector.http.budget import RateBudget
from connector.http.classify import (
    REFUSALS_SKIP,
    Action,
    NotJSONError,
    action_for,
    error_for,
    json_body,
    json_object,
)
from connector.http.guards import (
    AnswerCheckingPoolManager,
    checked_pool_manager,
    requests_answer_hook,
)
from connector.http.retry import RetryPolicy, parse_retry_after
from connector.http.settings import (
    HttpSettings,
    RenamedKey,
    attempts_field,
    retry_seconds_field,
    timeout_field,
)
from connector.plugin.changes import (
    Change,
    ChangeKind,
    Outcome,
    OutcomeStatus,
    Recipient,
    SegmentRef,
    TraitSpec,
    TraitType,
)
from connector.plugin.protocols import ConsentChannel, ConsentPolicy
from connector.plugin.spec import (
    Capability,
    DemoCast,
    DemoPart,
    DemoRole,
    Emulator,
    EmulatorOptions,
    KeyValueState,
    ListenOptions,
    PluginContext,
    PluginSpec,
    Sink,
    SinkBase,
    Source,
    SourceRecord,
    Stream,
)
from connector.runctl.crashpoints import crashpoint
from connector.schema.hashed_ids import (
    e164,
    hash_into,
    is_sha256_hex,
    letters_only,
    looks_like_email,
    non_empty,
    region_for,
    sha256_hex,
)
from connector.schema.normalise import (
    normalise_country,
    normalise_email,
    normalise_phone,
    parse_timestamp,
)
from connector.schema.rawinput import BoundedLines, InputLimits, decode_line, parse_json_object
from connector.schema.records import EVENT_FIELDS, NESTED_FIELDS, PROFILE_FIELDS
from connector.schema.segment_spec import event_record, message_id, profile_record
from connector.sync.isolate import bisect, deliver

__all__ = [
    "EVENT_FIELDS",
    "NESTED_FIELDS",
    "PROFILE_FIELDS",
    "REFUSALS_SKIP",
    "Action",
    "AnswerCheckingPoolManager",
    "AuthError",
    "BoundedLines",
    "Capability",
    "Change",
    "ChangeKind",
    "ConfigError",
    "ConnectorError",
    "ConsentChannel",
    "ConsentPolicy",
    "DemoCast",
    "DemoPart",
    "DemoRole",
    "Emulator",
    "EmulatorOptions",
    "EmulatorServer",
    "ErrorAnswer",
    "FatalError",
    "HttpSettings",
    "InputLimits",
    "KeyValueState",
    "ListenOptions",
    "NotJSONError",
    "Outcome",
    "OutcomeStatus",
    "PluginContext",
    "PluginSpec",
    "RateBudget",
    "RateLimit",
    "RateLimiter",
    "Recipient",
    "RenamedKey",
    "Request",
    "Response",
    "RetryPolicy",
    "RetryableError",
    "SegmentRef",
    "Sink",
    "SinkBase",
    "SkippableError",
    "Source",
    "SourceRecord",
    "Stream",
    "TraitSpec",
    "TraitType",
    "action_for",
    "attempts_field",
    "bisect",
    "checked_pool_manager",
    "crashpoint",
    "decode_line",
    "deliver",
    "e164",
    "error_for",
    "event_record",
    "hash_into",
    "is_sha256_hex",
    "json_body",
    "json_object",
    "letters_only",
    "looks_like_email",
    "message_id",
    "non_empty",
    "normalise_country",
    "normalise_email",
    "normalise_phone",
    "parse_json_object",
    "parse_retry_after",
    "parse_timestamp",
    "profile_record",
    "region_for",
    "requests_answer_hook",
    "retry_seconds_field",
    "sha256_hex",
    "timeout_field",
]
