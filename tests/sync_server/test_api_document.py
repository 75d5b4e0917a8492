"""The API document and the HTTP surface around it: security schemes per operation, exact integer
limits, Allow on 405, interactive docs off by default, the admin key kept only as a digest."""

from __future__ import annotations

import json

import httpx

from sync_server.__main__ import main as cli
from workstation.protocol import MAX_INT64


def test_openapi_declares_security_per_operation_and_exact_integer_limits(sync_server_factory):
    server = sync_server_factory(officers=1, caseload=1)
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {
        "officerBearer", "workstationCredential", "gatewayKey", "adminKey"
    }
    bearer = spec["components"]["securitySchemes"]["officerBearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")

    def schemes(method: str, path: str) -> set[str]:
        return {name for requirement in spec["paths"][path][method].get("security", []) for name in requirement}

    assert schemes("get", "/v1/sync/changes") == {"officerBearer"}
    assert schemes("get", "/v1/live") == {"officerBearer"}
    assert schemes("post", "/v1/audit") == {"officerBearer", "workstationCredential"}
    assert schemes("post", "/v1/ingest/fixes") == {"gatewayKey"}
    assert schemes("post", "/v1/admin/revoke-workstation") == {"adminKey"}
    assert schemes("post", "/v1/auth/token") == set()
    # credentials are no longer plain header parameters
    headers = {p["name"].lower() for ops in spec["paths"].values() for op in ops.values()
               for p in op.get("parameters", []) if p["in"] == "header"}
    assert not headers & {"authorization", "x-admin-key", "x-gateway-key", "x-workstation-credential"}
    # exact integers, not 9.223372036854776e+18
    text = httpx.get(f"{server.url}/openapi.json").text
    assert "e+18" not in text
    cursor = next(p for p in spec["paths"]["/v1/sync/changes"]["get"]["parameters"] if p["name"] == "cursor")
    assert cursor["schema"]["maximum"] == 2**62 and isinstance(cursor["schema"]["maximum"], int)
    assert spec["components"]["schemas"]["AuditRecord"]["properties"]["seq"]["maximum"] == MAX_INT64

    # 405 names what is allowed; the interactive pages are off unless asked for
    wrong_method = httpx.get(f"{server.url}/v1/auth/token")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert [httpx.get(f"{server.url}{page}").status_code for page in ("/docs", "/redoc")] == [404, 404]
    with_docs = sync_server_factory(officers=0, docs=True)
    assert [httpx.get(f"{with_docs.url}{page}").status_code for page in ("/docs", "/redoc")] == [200, 200]


def test_the_admin_key_is_stored_as_a_digest_and_replaced_by_the_cli(sync_server_factory, capsys):
    server = sync_server_factory(officers=1, caseload=1)
    url = f"{server.url}/v1/admin/revoke-workstation"
    old = server.admin_key
    assert httpx.post(url, json={"workstation_id": "w1"}, headers={"X-Admin-Key": old}).status_code == 200
    settings = dict(server.query("select name, value from server_setting"))
    assert "admin_key" not in settings and old not in settings.values()
    assert cli(["admin-key", "--db", server.db_url]) == 0
    new = json.loads(capsys.readouterr().out)["admin_key"]
    assert httpx.post(url, json={"workstation_id": "w2"}, headers={"X-Admin-Key": old}).status_code == 401
    assert httpx.post(url, json={"workstation_id": "w2"}, headers={"X-Admin-Key": new}).status_code == 200
    assert cli(["keys", "--db", server.db_url]) == 0
    assert json.loads(capsys.readouterr().out) == {"gateways": ["embedded"]}  # names only: keys are shown once
