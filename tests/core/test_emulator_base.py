"""The shared emulator machinery: routing, admin endpoints, faults, rate limits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connector.emulator import EmulatorServer, ErrorAnswer, RateLimit, Request, Response
from connector.emulator.faults import FaultRule
from connector.plugin.spec import EmulatorOptions


class Echo(EmulatorServer):
    platform = "echo"

    def register_routes(self) -> None:
        self.items: dict[str, Any] = {}
        self.route("PUT", "/items/{item_id}", self._put)
        self.route("GET", "/items/{item_id}", self._get)

    def rate_limits(self) -> list[RateLimit]:
        return [RateLimit("burst", 3, 60, path="/items/*", method="GET")]

    def authenticate(self, request: Request) -> Response | None:
        if request.header("authorization") != "Bearer good":
            return self.error_response(401, "bad token")
        return None

    def _put(self, req: Request) -> Response:
        self.items[req.params["item_id"]] = req.json()
        return Response(200, {"ok": True})

    def _get(self, req: Request) -> Response:
        item = self.items.get(req.params["item_id"])
        return Response(200, item) if item is not None else self.error_response(404, "missing")

    def snapshot(self) -> dict[str, Any]:
        return {"items": self.items}

    def reset(self) -> None:
        self.items.clear()


@pytest.fixture
def emu() -> Echo:
    with Echo(EmulatorOptions(limits="real")) as server:
        yield server


def client(emu: Echo) -> httpx.Client:
    return httpx.Client(base_url=emu.base_url, headers={"Authorization": "Bearer good"})


def test_routes_state_and_request_log(emu: Echo) -> None:
    with client(emu) as c:
        assert c.put("/items/a/", json={"v": 1}).status_code == 200, "trailing slash tolerated"
        assert c.get("/items/a").json() == {"v": 1}
        assert c.get("/nope").status_code == 404
        assert c.post("/items/a").status_code == 405
        assert c.get("/__emulator__/state").json() == {"items": {"a": {"v": 1}}}
        log = c.get("/__emulator__/requests", params={"body": 1}).json()["requests"]
    assert [(r["method"], r["path"], r["status"]) for r in log[:2]] == [
        ("PUT", "/items/a/", 200),
        ("GET", "/items/a", 200),
    ]
    assert log[0]["body"] == '{"v":1}'


def test_auth_is_checked(emu: Echo) -> None:
    with httpx.Client(base_url=emu.base_url) as c:
        assert c.get("/items/a").status_code == 401


def test_rate_limit_answers_429_with_whole_seconds(emu: Echo) -> None:
    with client(emu) as c:
        codes = [c.get("/items/x").status_code for _ in range(5)]
        last = c.get("/items/x")
    assert codes == [404, 404, 404, 429, 429]
    assert last.headers["Retry-After"].isdigit()
    assert int(last.headers["Retry-After"]) >= 1


def test_faults_count_and_kinds(emu: Echo) -> None:
    with client(emu) as c:
        c.put("/items/a", json={"v": 1})
        rules = {
            "rules": [
                {"path": "/items/*", "status": 503, "count": 2, "method": "PUT"},
                {"path": "/items/b", "status": 429, "count": 1, "retry_after": 2},
            ]
        }
        assert c.post("/__emulator__/faults", json=rules).status_code == 200
        assert [c.put("/items/a", json={"v": 2}).status_code for _ in range(3)] == [503, 503, 200]
        r = c.get("/items/b")
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "2"
        c.post(
            "/__emulator__/faults",
            json={"rules": [{"path": "*", "kind": "html", "status": 502, "count": 1}]},
        )
        html = c.get("/items/a")
        assert html.status_code == 502
        assert html.headers["content-type"] == "text/html"
        c.post(
            "/__emulator__/faults",
            json={"rules": [{"path": "*", "kind": "truncate", "status": 200, "count": 1}]},
        )
        with pytest.raises(httpx.RemoteProtocolError):
            c.get("/items/a")
    with client(emu) as c:
        c.post("/__emulator__/faults", json={"rules": [{"path": "*", "kind": "reset", "count": 1}]})
        with pytest.raises(httpx.TransportError):
            c.get("/items/a")
        assert c.post("/__emulator__/faults", json={"rules": [{"oops": 1}]}).status_code == 400


def test_rate_fault_is_seeded_and_reset_clears(emu: Echo) -> None:
    with client(emu) as c:
        c.post(
            "/__emulator__/faults",
            json={"rules": [{"path": "/items/*", "method": "PUT", "status": 500, "rate": 0.5}]},
        )
        codes = [c.put(f"/items/{i}", json={}).status_code for i in range(200)]
        assert 60 < codes.count(500) < 140
        c.post("/__emulator__/reset")
        assert c.get("/__emulator__/state").json() == {"items": {}}
        assert c.get("/__emulator__/requests").json()["requests"] == []


def test_portal_and_garbled_faults_answer_2xx_with_a_body_that_is_not_json(emu: Echo) -> None:
    """A captive portal answers 200 with its own page and the platform never sees the request;
    a middlebox cutting a 2xx body leaves a complete, correctly framed, broken answer."""
    with client(emu) as c:
        c.put("/items/a", json={"v": 1})
        emu.faults.set_rules([FaultRule(path="/items/*", method="PUT", kind="portal", count=1)])
        portal = c.put("/items/b", json={"v": 2})
        emu.faults.set_rules([FaultRule(path="/items/*", method="GET", kind="garbled", count=1)])
        garbled = c.get("/items/a")
    assert portal.status_code == 200
    assert portal.headers["content-type"].startswith("text/html")
    assert "b" not in emu.items, "the portal kept the request from the platform"
    assert garbled.status_code == 200
    assert len(garbled.content) == int(garbled.headers["content-length"])
    with pytest.raises(ValueError, match=r"Expecting|Unterminated"):
        garbled.json()


class Tabled(EmulatorServer):
    """An emulator in the shared style: handler methods listed in one route table."""

    platform = "tabled"

    def register_routes(self) -> None:
        self.routes([("POST", "/things", self._create), ("GET", "/things/{thing}", self._get)])

    def _create(self, req: Request) -> Response:
        if not (req.json() or {}).get("name"):
            raise ErrorAnswer(400, "name is required", field="name")
        return Response(201, {"ok": True})

    def _get(self, req: Request) -> Response:
        raise ErrorAnswer(404, f"no thing {req.params['thing']}")


def test_route_table_and_error_answers() -> None:
    with Tabled() as server, httpx.Client(base_url=server.base_url) as c:
        assert c.post("/things", json={"name": "a"}).status_code == 201
        refused = c.post("/things", json={})
        assert (refused.status_code, refused.json()) == (
            400,
            {"error": "name is required", "field": "name"},
        )
        assert c.get("/things/x").json() == {"error": "no thing x"}
        assert c.delete("/things/x").status_code == 405


def test_a_client_hanging_up_mid_request_prints_no_traceback(
    emu: Echo, capfd: pytest.CaptureFixture[str]
) -> None:
    import socket
    import struct
    import time

    host, port = emu.base_url.removeprefix("http://").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"PUT /items/a HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
            # a reset, not a polite close: what a client timing out mid-upload sends
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.3)
    with client(emu) as c:  # and it goes on serving
        assert c.put("/items/b", json={"v": 1}).status_code == 200
    assert "Traceback" not in capfd.readouterr().err
