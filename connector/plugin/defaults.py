"""Sinks written before the optional hooks were declared keep working, with the defaults.

A sink that neither inherits ``SinkBase`` nor declares every hook (a third-party plugin built
against the older contract) is wrapped once, where the runner creates it; the runner then reads
every hook as a plain attribute.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from connector.plugin.changes import Change, Outcome, Recipient, SegmentRef, TraitSpec
from connector.plugin.protocols import (
    OPTIONAL_SINK_HOOKS,
    ConsentChannel,
    ConsentPolicy,
    Sink,
    SinkBase,
)

__all__ = ["accepts_hook", "known_hook", "with_hook_defaults"]


def with_hook_defaults(sink: Sink) -> Sink:
    """``sink`` itself when it has every hook, else a view that adds the missing defaults."""
    if isinstance(sink, SinkBase) or all(hasattr(sink, h) for h in OPTIONAL_SINK_HOOKS):
        return sink
    return _Defaulted(sink)


def _own_hook(sink: Sink, name: str) -> Any:
    """The sink's own hook ``name``, or None when it has none or only ``SinkBase``'s."""
    inner = sink._inner if isinstance(sink, _Defaulted) else sink
    hook = getattr(inner, name, None)
    if hook is None or getattr(hook, "__func__", None) is getattr(SinkBase, name):
        return None
    return hook


def accepts_hook(sink: Sink) -> Callable[[Recipient], bool] | None:
    """The sink's own ``accepts``, or None when it accepts everyone: the planner then asks
    nobody, instead of a million people."""
    return _own_hook(sink, "accepts")  # type: ignore[no-any-return]


def known_hook(sink: Sink) -> Callable[[Recipient], bool | None] | None:
    """The sink's own ``known``, or None when it never knows: nobody is asked."""
    return _own_hook(sink, "known")  # type: ignore[no-any-return]


class _Defaulted:
    """Delegates to the wrapped sink; a hook it lacks answers with ``SinkBase``'s default."""

    consent: ConsentChannel | None
    trait_consent: ConsentChannel | None
    consent_policy: ConsentPolicy

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.consent = inner.consent
        self.trait_consent = getattr(inner, "trait_consent", SinkBase.trait_consent)
        self.consent_policy = getattr(inner, "consent_policy", SinkBase.consent_policy)

    def batch_size(self, kind: str) -> int:
        return int(self._inner.batch_size(kind))

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None:
        self._inner.prepare(traits, segments)

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        outcomes: Sequence[Outcome] = self._inner.apply(changes)
        return outcomes

    def close(self) -> None:
        self._inner.close()

    def accepts(self, recipient: Recipient) -> bool:
        hook = getattr(self._inner, "accepts", None)
        return True if hook is None else bool(hook(recipient))

    def known(self, recipient: Recipient) -> bool | None:
        hook = getattr(self._inner, "known", None)
        return None if hook is None else hook(recipient)  # type: ignore[no-any-return]

    @property
    def last_match_rates(self) -> Mapping[str, float]:
        return getattr(self._inner, "last_match_rates", None) or {}

    @property
    def recreated_segments(self) -> Collection[str]:
        return getattr(self._inner, "recreated_segments", None) or ()

    def erase(self, recipients: Sequence[Recipient]) -> Sequence[Outcome]:
        hook = getattr(self._inner, "erase", None)
        if hook is None:  # SinkBase's default: removal from our lists was the erasure
            return [Outcome.ok() for _ in recipients]
        outcomes: Sequence[Outcome] = hook(recipients)
        return outcomes
