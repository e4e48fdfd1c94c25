"""Alerts: tell someone when a run failed, held its sync for drift, or rejected too much.

A Slack-compatible webhook (``{"text": ...}``) and/or an e-mail over SMTP. The message names the
run, what happened in counts, and how to see details (``connector runs show RUN_ID``, the report
path); never a profile's identifiers, and error reasons are not included at all. Sending never
fails the run: a broken alert channel is logged and the run's own status stands.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from email.message import EmailMessage
from pathlib import Path

from connector.config.models import AlertSettings
from connector.state.runs import RunRow

__all__ = ["alert_reasons", "format_alert", "send_alerts"]

log = logging.getLogger(__name__)


def alert_reasons(run: RunRow, settings: AlertSettings) -> list[str]:
    """Why this run deserves an alert (empty: it does not)."""
    reasons = []
    if run.status in ("failed", "abandoned") and "failed" in settings.on:
        reasons.append(f"the run {run.status}")
    if run.status == "interrupted" and "interrupted" in settings.on:
        reasons.append("the run was stopped before it finished")
    if run.stages.get("model", {}).get("hold") and "drift_hold" in settings.on:
        reasons.append("sync held: drift passed the configured threshold")
    applied = int(run.counts.get("applied", 0) or 0)
    rejected = int(run.counts.get("rejected", 0) or 0)
    if "reject_rate" in settings.on and applied + rejected:
        rate = rejected / (applied + rejected)
        if rate > settings.reject_rate_threshold:
            reasons.append(
                f"reject rate {rate:.1%} above {settings.reject_rate_threshold:.1%} "
                f"({rejected:,} of {applied + rejected:,} changes)"
            )
    return reasons


def format_alert(run: RunRow, reasons: list[str], report: Path | None) -> str:
    counts = ", ".join(
        f"{k} {run.counts[k]:,}"
        for k in ("pulled", "profiles", "planned", "applied", "rejected", "retryable")
        if isinstance(run.counts.get(k), int)
    )
    lines = [
        f"cdp-connector run {run.run_id}: {run.status}",
        *(f"- {r}" for r in reasons),
        f"counts: {counts}" if counts else "",
        f"details: connector runs show {run.run_id}",
        f"report: {report}" if report else "",
    ]
    return "\n".join(line for line in lines if line)


def _webhook(url: str, text: str, timeout: float) -> None:
    req = urllib.request.Request(  # noqa: S310 - the configured webhook, http(s) only
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
        resp.read()


def _email(settings: AlertSettings, subject: str, text: str) -> None:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = settings.email_from
    msg["To"] = ", ".join(settings.email_to)
    msg.set_content(text)
    timeout = settings.timeout.total_seconds()
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user and settings.smtp_password:
            smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        smtp.send_message(msg)


def send_alerts(settings: AlertSettings, run: RunRow, report: Path | None = None) -> list[str]:
    """Send to every configured channel; return the channels that accepted the alert."""
    reasons = alert_reasons(run, settings)
    if not reasons:
        return []
    text = format_alert(run, reasons, report)
    sent = []
    if settings.webhook_url is not None:
        url = settings.webhook_url.get_secret_value()
        if not url.startswith(("http://", "https://")):
            log.error("alerts.webhook_url: only http(s) URLs are supported")
        else:
            try:
                _webhook(url, text, settings.timeout.total_seconds())
                sent.append("webhook")
            except OSError as exc:  # URLError and HTTPError are OSErrors
                log.error("alert webhook failed: %s", type(exc).__name__)
    if settings.email_to:
        try:
            _email(settings, f"cdp-connector run {run.run_id}: {run.status}", text)
            sent.append("email")
        except (OSError, smtplib.SMTPException) as exc:
            log.error("alert e-mail failed: %s", type(exc).__name__)
    return sent
