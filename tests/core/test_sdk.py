"""``connector.sdk`` is the plugin author's whole API: its list is exact and every name imports."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import pytest

import connector.sdk as sdk
from connector.plugin.defaults import accepts_hook, known_hook, with_hook_defaults
from connector.plugin.registry import PluginRegistry
from connector.sdk import Change, Outcome, Recipient, SegmentRef, Sink, SinkBase, TraitSpec

EXPECTED = [
    "CHECK_TIMEOUT",
    "EVENT_FIELDS",
    "NESTED_FIELDS",
    "PROFILE_FIELDS",
    "RECORD_COLUMN",
    "REFUSALS_SKIP",
    "Action",
    "AnswerCheckingPoolManager",
    "AuthError",
    "BoundedLines",
    "Capability",
    "Change",
    "ChangeKind",
    "CheckRole",
    "ConfigError",
    "ConnectionCheck",
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
    "KnownIds",
    "ListenOptions",
    "LiveSource",
    "NotJSONError",
    "Outcome",
    "OutcomeStatus",
    "PagedSource",
    "PluginContext",
    "PluginSpec",
    "ProbeHints",
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
    "SourcePage",
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
    "host_of",
    "is_sha256_hex",
    "json_body",
    "json_object",
    "judge",
    "keep_since",
    "letters_only",
    "looks_like_email",
    "message_id",
    "non_empty",
    "normalise_country",
    "normalise_email",
    "normalise_phone",
    "page_records",
    "parse_json_object",
    "parse_retry_after",
    "parse_timestamp",
    "probe",
    "profile_record",
    "region_for",
    "requests_answer_hook",
    "retry_seconds_field",
    "send_once",
    "sha256_hex",
    "timeout_field",
    "unflatten",
    "unreachable",
    "utcnow",
]

# What the plugins declared by hand before secret fields were derived from SecretStr fields.
DECLARED_SECRETS = {
    "files": set(),
    "google_ads": {
        "client_secret",
        "refresh_token",
        "service_account_private_key",
        "developer_token",
    },
    "hubspot": {"access_token"},
    "klaviyo": {"api_key"},
    "meta": {"access_token", "app_secret"},
    "segment": {"write_key", "webhook_secret", "profile_api_token", "public_api_token"},
}


def test_the_public_list_is_exactly_this() -> None:
    assert sdk.__all__ == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_every_public_name_imports(name: str) -> None:
    assert getattr(importlib.import_module("connector.sdk"), name) is not None


def test_star_import_gives_exactly_the_public_list() -> None:
    namespace: dict[str, object] = {}
    exec("from connector.sdk import *", namespace)  # noqa: S102 - the point of the test
    assert sorted(n for n in namespace if n != "__builtins__") == sorted(EXPECTED)


@pytest.mark.parametrize("plugin", sorted(DECLARED_SECRETS))
def test_secret_fields_are_the_settings_secretstr_fields(plugin: str) -> None:
    spec = PluginRegistry().get(plugin)
    assert set(spec.secret_fields) == DECLARED_SECRETS[plugin]


def test_listeners_and_demo_roles_come_from_the_specs() -> None:
    registry = PluginRegistry()
    assert list(registry.get("segment").listeners) == ["webhook"]
    roles = {n: s.demo for n in registry.names() if (s := registry.get(n)).demo is not None}
    assert {n: set(r.plays) for n, r in roles.items()} == {
        "hubspot": {"crm"},
        "klaviyo": {"marketing"},
        "segment": {"web"},
        "meta": set(),  # ad platforms take part as destinations only
        "google_ads": set(),
    }


class _Structural:
    """A sink written against the old contract: only the four required members."""

    consent = None

    def batch_size(self, kind: str) -> int:
        return 10

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None:
        pass

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        return [Outcome.ok() for _ in changes]

    def close(self) -> None:
        pass


class _Based(SinkBase):
    consent = None

    def batch_size(self, kind: str) -> int:
        return 10

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None:
        pass

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        return [Outcome.ok() for _ in changes]

    def close(self) -> None:
        pass


@pytest.mark.parametrize("sink", [_Structural(), _Based()], ids=["structural", "base"])
def test_optional_hooks_default_the_same_way(sink: Sink) -> None:
    hooked = with_hook_defaults(sink)
    assert hooked.trait_consent is None
    assert hooked.consent_policy == "strict"
    assert hooked.accepts(Recipient("p1"))
    assert dict(hooked.last_match_rates) == {}
    assert list(hooked.recreated_segments) == []
    assert hooked.batch_size("upsert") == 10


def test_a_sink_with_every_hook_is_used_as_it_is() -> None:
    sink = _Based()
    assert with_hook_defaults(sink) is sink


class _Choosy(SinkBase):
    consent = None

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        return [Outcome.ok() for _ in changes]

    def accepts(self, recipient: Recipient) -> bool:
        return recipient.email is not None

    def known(self, recipient: Recipient) -> bool | None:
        return False


@pytest.mark.parametrize("sink", [_Structural(), _Based()], ids=["structural", "base"])
def test_a_sink_without_its_own_gates_is_asked_about_nobody(sink: Sink) -> None:
    """The planner asks ``accepts``/``known`` per person only of a sink that has its own:
    asking SinkBase's defaults cost seconds per million profiles for a fixed answer."""
    hooked = with_hook_defaults(sink)
    assert accepts_hook(hooked) is None
    assert known_hook(hooked) is None


def test_a_sink_with_its_own_gates_is_asked() -> None:
    sink = _Choosy()
    accepts, known = accepts_hook(sink), known_hook(sink)
    assert accepts is not None
    assert known is not None
    assert accepts(Recipient("p1", email="a@example.org"))
    assert not accepts(Recipient("p2"))
    assert known(Recipient("p1")) is False
