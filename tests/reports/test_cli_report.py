"""`workstation report ...` and `workstation verify-packet` through the console entry point, against a
real reference server over loopback that is then stopped (the network cut)."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from local_db.models import AuditEvent
from local_db.store import open_store
from ui import launcher

needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = launcher.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@needs_poppler
def test_packet_and_day_report_offline_then_verified_online_and_off(sync_server_factory, env, tmp_path, capsys, monkeypatch):
    server = sync_server_factory(caseload=3)
    code, _, err = run(capsys, "sync", "--server", server.url, "--user", "officer1", "--json")
    assert code == 0, err
    case = server.seeded["officers"]["officer1"]["case_numbers"][0]
    monkeypatch.setenv("WORKSTATION_SERVER_URL", server.url)
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = (now - timedelta(days=2)).isoformat(), (now + timedelta(hours=1)).isoformat()

    online = tmp_path / "online.pdf"
    code, out, err = run(capsys, "report", "packet", case, "--from", start, "--to", end, "--tz", "America/Chicago",
                         "--out", str(online))
    assert code == 0, err
    assert str(online) in out and "manifest SHA-256" in out
    code, out, err = run(capsys, "verify-packet", str(online))
    assert code == 0, err
    assert "intact evidence packet" in out and "key registered with the agency server" in out

    server.stop()  # the network is gone from here on
    offline = tmp_path / "offline.pdf"
    code, _, err = run(capsys, "report", "packet", case, "--from", start, "--to", end, "--out", str(offline))
    assert code == 0, err
    text = subprocess.run(["pdftotext", str(offline), "-"], capture_output=True, text=True, check=True).stdout
    assert case in text and "5. Map of the track" in text and "9. Integrity" in text
    assert "America/Chicago" in text  # no --tz: the participant's time zone, never the laptop's
    code, out, err = run(capsys, "verify-packet", str(offline), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["ok"] and result["server_check"] == "offline"
    code, out, _ = run(capsys, "verify-packet", str(offline))
    assert "not checked against the server" in out

    day = tmp_path / "day.pdf"
    code, _, err = run(capsys, "report", "day", now.date().isoformat(), "--tz", "UTC", "--out", str(day))
    assert code == 0, err
    text = subprocess.run(["pdftotext", str(day), "-"], capture_output=True, text=True, check=True).stdout
    for title in ("Daily activity report", "1. Visits", "2. Contacts", "3. Check-ins", "5. Incidents handled",
                  "6. Outbox still pending"):
        assert title in text, title
    code, out, err = run(capsys, "verify-packet", str(day), "--offline")
    assert code == 0 and "intact day report" in out, err

    tampered = tmp_path / "tampered.pdf"
    data = bytearray(offline.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    code, out, err = run(capsys, "verify-packet", str(tampered), "--offline")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "NOT INTACT" in err

    with open_store(env, "pw") as store, store.read_session() as db:
        exports = db.scalars(select(AuditEvent.detail).where(AuditEvent.event == "export")).all()
    kinds = sorted(json.loads(d)["kind"] for d in exports)
    assert kinds == ["day-report", "evidence-packet", "evidence-packet"]


def test_bad_input_is_one_line_and_writes_nothing(sync_server_factory, env, tmp_path, capsys):
    server = sync_server_factory(caseload=1)
    assert run(capsys, "sync", "--server", server.url, "--user", "officer1")[0] == 0
    out = tmp_path / "x.pdf"
    code, _, err = run(capsys, "report", "packet", "NO-SUCH", "--from", "2026-12-01T00:00Z", "--to", "2026-12-02T00:00Z",
                       "--out", str(out))
    assert code == 1 and "no participant with case number 'NO-SUCH'" in err and not out.exists()
    code, _, err = run(capsys, "report", "packet", "X", "--from", "yesterday", "--to", "2026-12-02", "--out", str(out))
    assert code == 2 and "not an ISO-8601 time" in err
    code, _, err = run(capsys, "report", "packet", "X", "--from", "2026-12-02T00:00Z", "--to", "2026-12-01T00:00Z",
                       "--out", str(out))
    assert code == 2 and "ends" in err
    not_a_packet = tmp_path / "plain.pdf"
    not_a_packet.write_bytes(b"%PDF-1.4\n%%EOF\n")
    code, _, err = run(capsys, "verify-packet", str(not_a_packet), "--offline")
    assert code == 1 and "no packet seal" in err
