"""`workstation live`, `workstation ack`, `workstation resolve` against a real server: an alert comes
in live, is acknowledged and resolved from the command line, and the server shows it."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest

from workstation import cli
from workstation.protocol import GatewayFix


@pytest.fixture
def env(tmp_path, monkeypatch):
    home = tmp_path / "cli-home"
    home.mkdir()
    monkeypatch.setenv("WORKSTATION_HOME", str(home))
    monkeypatch.setenv("WORKSTATION_PASSWORD", "pw")
    monkeypatch.delenv("WORKSTATION_SERVER_URL", raising=False)
    return home


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_live_then_ack_and_resolve_an_incident(sync_server_factory, env, capsys):
    server = sync_server_factory(caseload=3, heartbeat_s=0.3)
    assert run(capsys, "sync", "--server", server.url, "--user", "officer1")[0] == 0
    serial = server.seeded["officers"]["officer1"]["serials"][0]
    result: dict = {}
    listening = threading.Thread(
        target=lambda: result.update(code=cli.main(["live", "--for", "4", "--server", server.url, "--user",
                                                    "officer1", "--json"])))
    listening.start()
    # the feed starts from "now" (earlier events are not replayed): wait until the command listens
    deadline = time.monotonic() + 20
    while not server.hub._waiters and time.monotonic() < deadline:
        time.sleep(0.05)
    server.ingest([GatewayFix(serial=serial, fix_time=datetime.now(UTC), lat=41.88, lon=-87.63, event="strap_tamper")])
    listening.join(30)
    assert result.get("code") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["connected"] and summary["devices_updated"] >= 1 and len(summary["alerts"]) >= 1, summary
    (alert_id,) = [a for a in summary["alerts"]
                   if server.query("select kind from alert where id = :a", a=a) == [("strap_tamper",)]]
    (incident_id,) = server.query("select incident_id from alert where id = :a", a=alert_id)[0]
    assert incident_id in summary["incidents"]

    code, out, err = run(capsys, "ack", incident_id)
    assert code == 0, err
    assert len(out.split()) >= 1
    code, _out, err = run(capsys, "ack", incident_id)
    assert code == 1 and "already" in err, (out, summary)  # nothing open is left to acknowledge
    code, _out, err = run(capsys, "resolve", incident_id, "--note", " ")
    assert code == 1 and "note" in err  # a tamper incident needs a note, as in the window
    code, out, err = run(capsys, "resolve", incident_id, "--note", "Strap checked on a visit: intact.")
    assert code == 0, err
    code, out, err = run(capsys, "sync", "--server", server.url, "--user", "officer1", "--json")
    assert code == 0, err
    sent = json.loads(out)
    assert sent["actions_applied"] >= 2 and sent["actions_conflict"] == 0
    assert server.query("select state, acknowledged_by from alert where id = :a", a=alert_id) == [
        ("resolved", "officer1")
    ]
    code, _out, err = run(capsys, "ack", "no-such-incident")
    assert code == 1 and "no incident no-such-incident" in err
