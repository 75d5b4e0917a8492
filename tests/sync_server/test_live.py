"""GET /v1/live: Server-Sent Events of the officer's own fixes and alerts, resumable, with heartbeats."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx

from sync_server.__main__ import main as cli
from workstation.protocol import GatewayFix, LiveEvent


def _events(lines: Iterator[str], count: int) -> list[tuple[str | None, LiveEvent]]:
    """Read `count` SSE events (the event's id field or None, its parsed data) from a streaming
    response's line iterator; an event is a block of fields ended by a blank line, in any order."""
    out: list[tuple[str | None, LiveEvent]] = []
    fields: dict[str, str] = {}
    for line in lines:
        if line:
            name, _, value = line.partition(": ")
            fields[name] = value
            continue
        if "data" in fields:
            out.append((fields.get("id"), LiveEvent.model_validate(json.loads(fields["data"]))))
            if len(out) == count:
                return out
        fields = {}
    raise AssertionError("stream ended early")


def _fix(serial: str, lat: float, battery: int | None = None) -> GatewayFix:
    return GatewayFix(serial=serial, fix_time=datetime.now(UTC), lat=lat, lon=-87.63, battery_pct=battery)


def test_live_stream_scoped_resumable_with_heartbeats(sync_server_factory, client_for):
    server = sync_server_factory(officers=2, caseload=2, heartbeat_s=0.3)
    client = client_for(server)
    mine = server.seeded["officers"]["officer1"]["serials"][0]
    theirs = server.seeded["officers"]["officer2"]["serials"][0]
    with client.stream("GET", "/v1/live", timeout=httpx.Timeout(10.0)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        # idle: a heartbeat arrives without an id line, so it never moves the resume point
        (beat_id, beat), = _events(lines, 1)
        assert beat.type == "heartbeat" and beat_id is None
        server.ingest([_fix(theirs, 41.87), _fix(mine, 41.88, battery=3)])
        events = _events(lines, 2)
    (fix_id, fix), (alert_id, alert) = events
    assert fix.type == "fix" and fix.fix.device_id.endswith("0100001") and fix.device.battery_pct == 3
    assert alert.type == "alert" and alert.alert.kind == "battery_critical"
    assert int(fix_id) == fix.seq and int(alert_id) == alert.seq > fix.seq

    # reconnect from the fix's seq: only what came after it is replayed (the alert)
    with client.stream("GET", "/v1/live", params={"after": fix.seq}, timeout=httpx.Timeout(10.0)) as again:
        (_, replayed), = _events(again.iter_lines(), 1)
    assert replayed.seq == alert.seq
    # Last-Event-ID works the same way
    headers = {"Last-Event-ID": str(fix.seq - 1)}
    with client.stream("GET", "/v1/live", headers=headers, timeout=httpx.Timeout(10.0)) as third:
        first, second = _events(third.iter_lines(), 2)
    assert [first[1].seq, second[1].seq] == [fix.seq, alert.seq]


def test_live_needs_a_token(sync_server):
    assert httpx.get(f"{sync_server.url}/v1/live").status_code == 401


def _end_of(lines: Iterator[str]) -> LiveEvent:
    """Read until the stream's final event; the server must close the stream right after it."""
    while True:
        (_, event), = _events(lines, 1)
        if event.type == "end":
            assert [line for line in lines if line] == [], "the stream went on after its end event"
            return event
        assert event.type == "heartbeat"


def test_an_open_stream_ends_with_the_reason_when_its_authorisation_ends(sync_server_factory, client_for, db_url):
    server = sync_server_factory(caseload=1, heartbeat_s=0.2, db_url=db_url)
    mine = server.seeded["officers"]["officer1"]["serials"][0]
    timeout = httpx.Timeout(10.0)

    revoked = client_for(server, workstation_id="ws-lost")
    with revoked.stream("GET", "/v1/live", timeout=timeout) as response:
        lines = response.iter_lines()
        assert _events(lines, 1)[0][1].type == "heartbeat"
        server.admin_revoke("ws-lost")
        # an event published after the revocation is not delivered: the check runs before delivery
        server.ingest([_fix(mine, 41.88)])
        end = _end_of(lines)
    assert end.reason == "workstation_revoked"

    short = sync_server_factory(caseload=1, heartbeat_s=0.2, access_ttl_s=1, db_url=db_url)
    with client_for(short).stream("GET", "/v1/live", timeout=timeout) as response:
        assert _end_of(response.iter_lines()).reason == "token_expired"

    with client_for(server, workstation_id="ws-kept").stream("GET", "/v1/live", timeout=timeout) as response:
        lines = response.iter_lines()
        assert _events(lines, 1)[0][1].type == "heartbeat"
        assert cli(["disable", "officer1", "--db", server.db_url]) == 0
        assert _end_of(lines).reason == "account_disabled"


def test_incident_records_go_live_when_raised_escalated_and_cleared(sync_server_factory, client_for):
    from datetime import timedelta

    from sync_server.db import utcnow
    from sync_server.ingest import check_silence

    server = sync_server_factory(officers=1, caseload=1, heartbeat_s=0.3)
    serial = server.seeded["officers"]["officer1"]["serials"][0]

    def next_incident(lines: Iterator[str]) -> LiveEvent:
        while True:
            (_, event), = _events(lines, 1)
            if event.type == "incident":
                return event

    with client_for(server).stream("GET", "/v1/live", timeout=httpx.Timeout(10.0)) as response:
        lines = response.iter_lines()
        server.ingest([_fix(serial, 41.88, battery=3)])
        raised = next_incident(lines)
        assert raised.incident.kinds[-1] == "battery_critical" and raised.incident.state == "open"
        assert not raised.incident.needs_action and raised.version >= 1
        check_silence(server.db, server.hub, now=utcnow() + timedelta(minutes=45))  # the watchdog
        escalated = next_incident(lines)
        while escalated.incident.id != raised.incident.id or not escalated.incident.needs_action:
            escalated = next_incident(lines)
        assert escalated.version > raised.version and escalated.incident.due_at is not None
        server.ingest([_fix(serial, 41.88, battery=60)])  # contact and power back
        cleared = next_incident(lines)
    assert (cleared.incident.id, cleared.incident.state) == (raised.incident.id, "auto_resolved")
    assert cleared.incident.resolved_by == "system" and cleared.version > escalated.version
