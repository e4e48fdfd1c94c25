"""Read routes of the Klaviyo emulator beyond the collections the connector pages: one profile,
event, metric, list or import job by id, a list's members (``get_profiles_for_list``,
``get_profile_ids_for_list``), a profile's lists and an event's profile and metric.

Each route is the HTTP path the official SDK (klaviyo-api 25, ``openapi_client/api``) calls for
that operation; the documents follow the operations' specs in shared/specs/klaviyo/apis. An
unknown id answers 404 with a JSON:API error, as the real API does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cdp_klaviyo.emulator.jsonapi import (
    PUBLIC_HOST,
    FilterError,
    decode_cursor,
    encode_cursor,
    iso,
    page_links,
    parse_filter,
)
from cdp_klaviyo.emulator.resources import (
    event_resource,
    job_resource,
    list_resource,
    metric_resource,
    profile_resource,
)
from cdp_klaviyo.limits import PAGE_SIZE
from connector.sdk import ErrorAnswer, Request, Response

if TYPE_CHECKING:
    from cdp_klaviyo.emulator.server import KlaviyoEmulator
    from cdp_klaviyo.emulator.store import KlaviyoStore

__all__ = ["JSONAPI", "ok", "read_routes"]

JSONAPI = "application/vnd.api+json"
Handler = Callable[[Request], Response]


def ok(body: object, status: int = 200) -> Response:
    return Response(status, body, content_type=JSONAPI)


def _one(table: dict[str, dict[str, Any]], key: str, what: str) -> dict[str, Any]:
    record = table.get(key)
    if record is None:
        raise ErrorAnswer(404, f"{what} {key[:40]} not found.")
    return record


def _single(resource: dict[str, Any]) -> Response:
    return ok({"data": resource, "links": resource["links"]})


def _ids_doc(kind: str, ids: list[str], path: str, rel: str) -> Response:
    data = [{"type": kind, "id": i} for i in ids]
    return ok({"data": data, "links": {"self": f"{PUBLIC_HOST}{path}/relationships/{rel}/"}})


def _check_sort(sort: str) -> None:
    if sort.lstrip("-") != "joined_group_at":
        raise FilterError(f"Invalid sort field {sort!r}", "sort")


def _list_page(
    emu: KlaviyoEmulator, request: Request
) -> tuple[dict[str, Any], list[str], str | None]:
    """One page of a list's members in join order: (list, profile ids, next cursor)."""
    lst = _one(emu.store.lists, request.params["id"], "List")
    try:
        size = emu.page_size(request, "list_members", 20)
        sort = request.arg("sort") or "joined_group_at"
        _check_sort(sort)
        terms = parse_filter(request.arg("filter"))
        cursor = request.arg("page[cursor]")
        after = tuple(decode_cursor(cursor, sort)) if cursor else None
    except FilterError as exc:
        raise ErrorAnswer(400, exc.detail, parameter=exc.parameter) from None
    joined = lst.setdefault("joined", {})
    members = sorted(((joined.get(p, 0.0), p) for p in lst["members"]), reverse=sort[0] == "-")
    for term in terms:
        if term.field not in ("email", "phone_number", "external_id") or term.op not in (
            "equals",
            "any",
        ):
            detail = f"Unsupported filter {term.op}({term.field})"
            raise ErrorAnswer(400, detail, parameter="filter")
        values = term.value if term.op == "any" else [term.value]
        members = [m for m in members if emu.store.profiles[m[1]].get(term.field) in values]
    if after is not None:
        members = [m for m in members if (m > after if sort[0] != "-" else m < after)]
    page = members[:size]
    nxt = encode_cursor(sort, page[-1]) if len(members) > size else None
    return lst, [p for _, p in page], nxt


class _Reads:
    """The read handlers, bound to one emulator (its store is looked up per request, as
    ``reset`` replaces it)."""

    def __init__(self, emu: KlaviyoEmulator) -> None:
        self.emu = emu

    @property
    def store(self) -> KlaviyoStore:
        return self.emu.store

    def profile(self, request: Request) -> Response:
        profile = _one(self.store.profiles, request.params["id"], "Profile")
        extra = (request.arg("additional-fields[profile]") or "").split(",")
        return _single(profile_resource(profile, subscriptions="subscriptions" in extra))

    def _lists_of(self, request: Request) -> tuple[str, list[dict[str, Any]]]:
        pid = str(_one(self.store.profiles, request.params["id"], "Profile")["id"])
        return pid, [x for _, x in sorted(self.store.lists.items()) if pid in x["members"]]

    def profile_lists(self, request: Request) -> Response:
        _, lists = self._lists_of(request)
        data = [list_resource(x) for x in lists]
        return ok({"data": data, "links": page_links(request.path, request.query, None)})

    def profile_list_ids(self, request: Request) -> Response:
        pid, lists = self._lists_of(request)
        return _ids_doc("list", [x["id"] for x in lists], f"/api/profiles/{pid}", "lists")

    def event(self, request: Request) -> Response:
        return _single(event_resource(_one(self.store.events, request.params["id"], "Event")))

    def event_profile(self, request: Request) -> Response:
        event = _one(self.store.events, request.params["id"], "Event")
        return _single(profile_resource(_one(self.store.profiles, event["profile_id"], "Profile")))

    def event_metric(self, request: Request) -> Response:
        event = _one(self.store.events, request.params["id"], "Event")
        return _single(metric_resource(self.store.metrics[event["metric_id"]]))

    def event_rel(self, kind: str) -> Handler:
        def handler(request: Request) -> Response:
            event = _one(self.store.events, request.params["id"], "Event")
            path = f"{PUBLIC_HOST}/api/events/{event['id']}/relationships/{kind}/"
            return ok({"data": {"type": kind, "id": event[f"{kind}_id"]}, "links": {"self": path}})

        return handler

    def metric(self, request: Request) -> Response:
        return _single(metric_resource(_one(self.store.metrics, request.params["id"], "Metric")))

    def list_(self, request: Request) -> Response:
        return _single(list_resource(_one(self.store.lists, request.params["id"], "List")))

    def list_profiles(self, request: Request) -> Response:
        lst, ids, nxt = _list_page(self.emu, request)
        extra = (request.arg("additional-fields[profile]") or "").split(",")
        joined = lst.get("joined") or {}
        data = []
        for pid in ids:
            resource = profile_resource(
                self.store.profiles[pid], subscriptions="subscriptions" in extra
            )
            # a list member carries when it joined (spec get_profiles_for_list)
            resource["attributes"]["joined_group_at"] = iso(joined.get(pid, 0.0))
            data.append(resource)
        links = page_links(f"/api/lists/{lst['id']}/profiles", request.query, nxt)
        return ok({"data": data, "links": links})

    def list_profile_ids(self, request: Request) -> Response:
        lst, ids, nxt = _list_page(self.emu, request)
        data = [{"type": "profile", "id": p} for p in ids]
        path = f"/api/lists/{lst['id']}/relationships/profiles"
        return ok({"data": data, "links": page_links(path, request.query, nxt)})

    def jobs(self, request: Request) -> Response:
        jobs = sorted(self.store.jobs.values(), key=lambda j: j["id"])
        data = [job_resource(j) for j in jobs[: PAGE_SIZE["import_jobs"]]]
        links = page_links("/api/profile-bulk-import-jobs", request.query, None)
        return ok({"data": data, "links": links})

    def job_lists(self, request: Request) -> Response:
        job = _one(self.store.jobs, request.params["id"], "Job")
        lists = [self.store.lists[i] for i in job["list_ids"] if i in self.store.lists]
        link = {"self": f"{PUBLIC_HOST}/api/profile-bulk-import-jobs/{job['id']}/lists/"}
        return ok({"data": [list_resource(x) for x in lists], "links": link})

    def job_list_ids(self, request: Request) -> Response:
        job = _one(self.store.jobs, request.params["id"], "Job")
        path = f"/api/profile-bulk-import-jobs/{job['id']}"
        return _ids_doc("list", list(job["list_ids"]), path, "lists")

    def _job_profile_ids(self, request: Request) -> tuple[str, list[str]]:
        job = _one(self.store.jobs, request.params["id"], "Job")
        ids = [p for p in job.get("profile_ids", []) if p in self.store.profiles]
        return str(job["id"]), list(dict.fromkeys(ids))

    def job_profiles(self, request: Request) -> Response:
        jid, ids = self._job_profile_ids(request)
        data = [profile_resource(self.store.profiles[p]) for p in ids]
        path = f"/api/profile-bulk-import-jobs/{jid}/profiles"
        return ok({"data": data, "links": page_links(path, request.query, None)})

    def job_profile_ids(self, request: Request) -> Response:
        jid, ids = self._job_profile_ids(request)
        return _ids_doc("profile", ids, f"/api/profile-bulk-import-jobs/{jid}", "profiles")


def read_routes(emu: KlaviyoEmulator) -> list[tuple[str, str, Handler]]:
    """The table of read routes, bound to ``emu``."""
    r = _Reads(emu)
    jobs = "/api/profile-bulk-import-jobs/{id}"
    return [
        ("GET", "/api/profiles/{id}", r.profile),
        ("GET", "/api/profiles/{id}/lists", r.profile_lists),
        ("GET", "/api/profiles/{id}/relationships/lists", r.profile_list_ids),
        ("GET", "/api/events/{id}", r.event),
        ("GET", "/api/events/{id}/profile", r.event_profile),
        ("GET", "/api/events/{id}/metric", r.event_metric),
        ("GET", "/api/events/{id}/relationships/profile", r.event_rel("profile")),
        ("GET", "/api/events/{id}/relationships/metric", r.event_rel("metric")),
        ("GET", "/api/metrics/{id}", r.metric),
        ("GET", "/api/lists/{id}", r.list_),
        ("GET", "/api/lists/{id}/profiles", r.list_profiles),
        ("GET", "/api/lists/{id}/relationships/profiles", r.list_profile_ids),
        ("GET", "/api/profile-bulk-import-jobs", r.jobs),
        ("GET", f"{jobs}/lists", r.job_lists),
        ("GET", f"{jobs}/relationships/lists", r.job_list_ids),
        ("GET", f"{jobs}/profiles", r.job_profiles),
        ("GET", f"{jobs}/relationships/profiles", r.job_profile_ids),
    ]
