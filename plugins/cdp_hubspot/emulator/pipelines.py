"""Deal pipelines of the HubSpot emulator, and the deal properties HubSpot derives from them.

Pipeline and stage ids are per portal: only the default pipeline's stages have readable ids
(``closedwon``); a pipeline created in a portal gets numeric ids (HubSpot deals and pipelines
docs, facts "December 2026 updates"). A stage's ``metadata`` says whether it closes the deal and
with which probability (``isClosed: "true"``, ``probability: "1.0"`` is closed won), and HubSpot
keeps on each deal the calculated ``hs_is_closed_won`` / ``hs_is_closed`` flags and, per stage,
``hs_date_entered_<stageId>`` / ``hs_date_exited_<stageId>`` (HubSpot default deal properties).
Routes: ``GET /crm/v3/pipelines/{objectType}[/{pipelineId}[/stages[/{stageId}]]]`` as the SDK's
``crm.pipelines.pipelines_api`` / ``pipeline_stages_api`` call them (hubspot-api-client 12.0.0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cdp_hubspot.emulator.objects import CrmObject
from cdp_hubspot.emulator.schema import property_record
from connector.sdk import Request, Response

if TYPE_CHECKING:
    from cdp_hubspot.emulator.server import HubSpotEmulator

__all__ = [
    "DEAL_PIPELINES",
    "PipelineRoutes",
    "derive_deal",
    "stage_ids",
    "stage_properties",
    "won_stages",
]

_EPOCH = "2020-01-01T00:00:00.000Z"
# (pipeline id, label, [(stage id, label, isClosed, probability)])
DEAL_PIPELINES: list[tuple[str, str, list[tuple[str, str, bool, str]]]] = [
    (
        "default",
        "Sales Pipeline",
        [
            ("appointmentscheduled", "Appointment Scheduled", False, "0.2"),
            ("qualifiedtobuy", "Qualified To Buy", False, "0.4"),
            ("presentationscheduled", "Presentation Scheduled", False, "0.6"),
            ("decisionmakerboughtin", "Decision Maker Bought-In", False, "0.8"),
            ("contractsent", "Contract Sent", False, "0.9"),
            ("closedwon", "Closed Won", True, "1.0"),
            ("closedlost", "Closed Lost", True, "0.0"),
        ],
    ),
    (
        "705209413",
        "Renewals",
        [
            ("1040001", "Renewal due", False, "0.5"),
            ("1040002", "Renewed", True, "1.0"),
            ("1040003", "Churned", True, "0.0"),
        ],
    ),
]
_STAGES = {s[0]: s for _, _, stages in DEAL_PIPELINES for s in stages}


def stage_ids() -> list[str]:
    return list(_STAGES)


def won_stages() -> list[str]:
    return [sid for sid, (_, _, closed, p) in _STAGES.items() if closed and p == "1.0"]


def stage_properties() -> dict[str, dict[str, Any]]:
    """The calculated deal properties: closed flags and per-stage entered/exited dates."""
    out = {
        name: property_record(name, "bool", "booleancheckbox", "dealinformation",
                              options=["true", "false"], hubspot_defined=True)
        for name in ("hs_is_closed_won", "hs_is_closed")
    }  # fmt: skip
    for sid in _STAGES:
        for kind in ("entered", "exited"):
            name = f"hs_date_{kind}_{sid}"
            out[name] = property_record(
                name, "datetime", "date", "dealinformation", hubspot_defined=True
            )
    return out


def derive_deal(record: CrmObject, old: CrmObject | None) -> None:
    """Set the calculated properties of a new deal version from its stage."""
    props = record.props
    stage = _STAGES.get(props.get("dealstage") or "")
    props["hs_is_closed_won"] = "true" if stage and stage[2] and stage[3] == "1.0" else "false"
    props["hs_is_closed"] = "true" if stage and stage[2] else "false"
    when = props.get("hs_lastmodifieddate") or ""
    before = old.props.get("dealstage") if old is not None else None
    if stage and before != stage[0]:
        props[f"hs_date_entered_{stage[0]}"] = when
        if before:
            props[f"hs_date_exited_{before}"] = when


def _pipeline_json(
    pid: str, label: str, stages: list[tuple[str, str, bool, str]], order: int
) -> dict[str, Any]:
    return {
        "id": pid,
        "label": label,
        "displayOrder": order,
        "archived": False,
        "createdAt": _EPOCH,
        "updatedAt": _EPOCH,
        "stages": [_stage_json(s, i) for i, s in enumerate(stages)],
    }


def _stage_json(stage: tuple[str, str, bool, str], order: int) -> dict[str, Any]:
    sid, label, closed, probability = stage
    return {
        "id": sid,
        "label": label,
        "displayOrder": order,
        "metadata": {"isClosed": "true" if closed else "false", "probability": probability},
        "archived": False,
        "createdAt": _EPOCH,
        "updatedAt": _EPOCH,
        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
    }


class PipelineRoutes:
    """Read routes of the pipelines API for deals (other object types have none here)."""

    def __init__(self, emu: HubSpotEmulator) -> None:
        self.emu = emu

    def register(self) -> None:
        base = "/crm/v3/pipelines/{objectType}"
        self.emu.routes(
            [
                ("GET", base, self.get_all),
                ("GET", f"{base}/{{pipelineId}}", self.get_one),
                ("GET", f"{base}/{{pipelineId}}/stages", self.stages),
                ("GET", f"{base}/{{pipelineId}}/stages/{{stageId}}", self.stage),
            ]
        )

    def _pipelines(self, request: Request) -> list[dict[str, Any]]:
        if self.emu.store(request.params["objectType"]) is not self.emu.deals:
            return []
        return [_pipeline_json(*p, i) for i, p in enumerate(DEAL_PIPELINES)]

    def _find(self, request: Request) -> dict[str, Any] | None:
        wanted = request.params["pipelineId"]
        return next((p for p in self._pipelines(request) if p["id"] == wanted), None)

    def get_all(self, request: Request) -> Response:
        return Response(200, {"results": self._pipelines(request)})

    def get_one(self, request: Request) -> Response:
        found = self._find(request)
        if found is None:
            return self.emu.error_response(404, "Unable to find pipeline")
        return Response(200, found)

    def stages(self, request: Request) -> Response:
        found = self._find(request)
        if found is None:
            return self.emu.error_response(404, "Unable to find pipeline")
        return Response(200, {"results": found["stages"]})

    def stage(self, request: Request) -> Response:
        found = self._find(request)
        stage = next(
            (s for s in (found or {}).get("stages", []) if s["id"] == request.params["stageId"]),
            None,
        )
        if stage is None:
            return self.emu.error_response(404, "Unable to find pipeline stage")
        return Response(200, stage)
