"""The change feed: scoping, paging, compaction, deltas, reassignment tombstones and compression."""

from __future__ import annotations

import gzip
import json

import httpx
import zstandard
from pydantic import TypeAdapter

from tests.sync_server.conftest import pull_all
from workstation.protocol import ChangesPage, ParticipantDetail

PAGE = TypeAdapter(ChangesPage)


def _by_entity(changes: list[dict]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for change in changes:
        out.setdefault(change["entity"], set()).add(change["id"])
    return out


def test_full_pull_is_scoped_paged_and_valid(sync_server_factory, client_for, db_url):
    server = sync_server_factory(officers=2, caseload=30, db_url=db_url)
    client = client_for(server)
    first = client.get("/v1/sync/changes", params={"cursor": 0, "limit": 7})
    page = PAGE.validate_json(first.content)  # the client's own schema accepts it
    assert len(page.changes) == 7 and page.has_more and page.remaining > 0
    changes, cursor = pull_all(client, limit=7)
    assert len(changes) == 7 + page.remaining
    entities = _by_entity(changes)
    assert len(entities["participant"]) == 30 and len(entities["device"]) == 30
    assert {"zone", "appointment"} <= entities.keys()
    mine = {row[0] for row in server.query("select id from participant where officer_id = 'off1'")}
    assert entities["participant"] == mine
    assert all(c["op"] == "upsert" and c["data"] for c in changes)
    devices = [c["data"] for c in changes if c["entity"] == "device"]
    assert all(d["last_fix"]["lat"] for d in devices)  # the last fix travels with the device
    # nothing new after the last cursor
    assert client.get("/v1/sync/changes", params={"cursor": cursor}).json() == {
        "changes": [], "next_cursor": cursor, "has_more": False, "remaining": 0,
    }


def test_delta_carries_only_changed_rows_once(sync_server_factory, client_for):
    server = sync_server_factory(caseload=40)
    client = client_for(server)
    _, cursor = pull_all(client)
    assert server.touch_participants(0.25) == 10
    server.touch_participants(0.25)  # same seed: the same ten rows change again
    delta, _ = pull_all(client, cursor)
    assert [c["entity"] for c in delta] == ["participant"] * 10  # compacted: one entry per row
    assert all(c["version"] == 3 for c in delta)


def test_reassignment_tombstones_old_officer_and_upserts_new(sync_server_factory, client_for, db_url):
    server = sync_server_factory(officers=2, caseload=5, db_url=db_url)
    one, two = client_for(server), client_for(server, username="officer2", workstation_id="ws-2")
    _, cursor1 = pull_all(one)
    _, cursor2 = pull_all(two)
    case = server.seeded["officers"]["officer1"]["case_numbers"][0]
    server.reassign(case, "officer2")
    delta1, _ = pull_all(one, cursor1)
    pid = delta1[0]["id"]
    assert delta1 == [{"entity": "participant", "id": pid, "op": "delete", "version": 2}]
    delta2, _ = pull_all(two, cursor2)
    assert delta2[0]["entity"] == "participant" and delta2[0]["data"]["officer_id"] == "off2"
    assert {c["entity"] for c in delta2} >= {"participant", "device"}
    # a fresh full pull of officer1 no longer contains any of the participant's rows
    full1, _ = pull_all(one)
    assert not any(c.get("data", {}) and c["data"].get("participant_id") == pid for c in full1)
    # and the participant is now visible to officer2 only
    assert one.get(f"/v1/participants/{case}").status_code == 404
    detail = ParticipantDetail.model_validate_json(two.get(f"/v1/participants/{case}").content)
    assert detail.participant.officer_id == "off2" and detail.devices


def test_participant_detail_is_private_to_the_assigned_officer(sync_server_factory, client_for):
    server = sync_server_factory(officers=2, caseload=3)
    one = client_for(server)
    theirs = server.seeded["officers"]["officer2"]["case_numbers"][0]
    hidden = one.get(f"/v1/participants/{theirs}")
    missing = one.get("/v1/participants/CHI-0000-0000000")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()  # indistinguishable from a case that does not exist
    assert one.get(f"/v1/participants/{theirs}/track").status_code == 404


def test_pages_are_compressed_as_the_client_asks(sync_server_factory):
    server = sync_server_factory(caseload=30)
    token = httpx.post(
        f"{server.url}/v1/auth/token", json={"username": "officer1", "password": "pw", "workstation_id": "w"}
    ).json()["access_token"]
    raw_sizes = {}
    with httpx.Client(base_url=server.url) as plain:
        for encoding in ("identity", "gzip", "zstd"):
            # stream=True: look at the bytes on the wire before httpx decodes them
            request = plain.build_request(
                "GET", "/v1/sync/changes", params={"limit": 500},
                headers={"Authorization": f"Bearer {token}", "Accept-Encoding": encoding},
            )
            response = plain.send(request, stream=True)
            wire = b"".join(response.iter_raw())
            response.close()
            raw_sizes[encoding] = len(wire)
            if encoding == "gzip":
                assert response.headers["content-encoding"] == "gzip"
                body = gzip.decompress(wire)
            elif encoding == "zstd":
                assert response.headers["content-encoding"] == "zstd"
                body = zstandard.ZstdDecompressor().decompressobj().decompress(wire)
            else:
                assert "content-encoding" not in response.headers
                body = wire
            assert len(json.loads(body)["changes"]) > 100
    assert raw_sizes["zstd"] < raw_sizes["identity"] / 5 and raw_sizes["gzip"] < raw_sizes["identity"] / 5


def test_full_pass_stays_under_400_compressed_bytes_per_participant(sync_server_factory):
    """The issue's size budget (devices with last fix, zones, appointments, open alerts)."""
    server = sync_server_factory(caseload=400)
    token = httpx.post(
        f"{server.url}/v1/auth/token", json={"username": "officer1", "password": "pw", "workstation_id": "w"}
    ).json()["access_token"]
    total, cursor = 0, 0
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as client:
        while True:
            request = client.build_request(
                "GET", "/v1/sync/changes", params={"cursor": cursor, "limit": 1000},
                headers={"Accept-Encoding": "gzip"},
            )
            response = client.send(request, stream=True)
            total += sum(len(chunk) for chunk in response.iter_raw())
            response.close()
            page = client.get("/v1/sync/changes", params={"cursor": cursor, "limit": 1000}).json()
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
    assert total / 400 <= 400, total / 400


def test_sequence_numbers_are_never_reused_after_feed_rows_are_dropped(sync_server_factory, client_for):
    """A reassignment deletes the newest feed rows; the next change must still get a higher seq, or a
    client whose cursor passed the deleted rows would never see it."""
    server = sync_server_factory(officers=2, caseload=3)
    client = client_for(server)
    server.touch_participants(1.0)  # every participant's row is now among the newest feed entries
    _, cursor = pull_all(client)
    case = server.seeded["officers"]["officer1"]["case_numbers"][-1]
    server.reassign(case, "officer2")
    server.reassign(case, "officer1")  # back again: the upserts must be after the cursor
    delta, _ = pull_all(client, cursor)
    assert {c["entity"] for c in delta} >= {"participant", "device"}
    assert all(c["op"] == "upsert" for c in delta if c["entity"] == "participant")
