"""Schema-driven: every operation of the server's /openapi.json gets requests generated from its schema
(Schemathesis), with and without valid credentials; no answer may be a server error (5xx).

Bounded: EXAMPLES requests per operation and credential set (about a minute for the whole API on an
idle machine). Requests carry an officer's token and workstation credential, the gateway's key and,
on /osmand, a device's serial and key, so the generated bodies reach the code behind authentication.
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.sync_server.conftest import login

EXAMPLES = 40
#: the live stream never ends by itself: it is opened and closed, not read
STREAMING = {("GET", "/v1/live")}


def test_no_operation_answers_a_server_error(sync_server_factory):
    # the brakes on failed authentication are tested on their own; here they would answer 429 to everything
    server = sync_server_factory(caseload=3, device_free_failures=10**9, login_free_failures=10**9)
    officer = login(server, workstation_id="ws-schema")
    serial = server.seeded["officers"]["officer1"]["serials"][0]
    credentials = {
        "anonymous": ({}, {}),
        "authenticated": (
            {"Authorization": officer.headers["Authorization"],
             "X-Workstation-Credential": officer.headers.get("X-Workstation-Credential", ""),
             "X-Gateway-Key": server.gateway_key},
            {"id": serial, "key": server.device_keys[serial]},
        ),
    }
    document = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    operations = [result.ok() for result in schemathesis.openapi.from_dict(document).get_all_operations()]
    assert len(operations) == sum(len(methods) for methods in document["paths"].values())
    failures: list[str] = []
    answered: Counter = Counter()
    for operation in operations:
        for who, (headers, device) in credentials.items():
            _fuzz(server.url, operation, who, headers, device, failures, answered)
    assert failures == [], "\n".join(failures[:10])
    # the credentials work: generated requests got past authentication to the code behind it
    def statuses(who: str, method: str, path: str) -> set[int]:
        return {status for (w, name, status) in answered if w == who and name == (method, path)}

    assert 200 in statuses("authenticated", "GET", "/v1/sync/changes"), answered
    assert statuses("authenticated", "POST", "/v1/ingest/fixes") - {401, 429}, answered
    assert statuses("anonymous", "POST", "/v1/ingest/fixes") <= {401, 429}, answered


def _fuzz(url: str, operation, who: str, headers: dict, device: dict, failures: list[str],  # noqa: ANN001
          answered: Counter) -> None:
    name = (operation.method.upper(), operation.path)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case) -> None:  # noqa: ANN001 - a schemathesis Case
        case.headers = {**(case.headers or {}), **headers}
        if name[1] == "/osmand" and device:
            case.query = {**(case.query or {}), **device}
        if name in STREAMING:  # only the status: the body never ends
            try:
                with httpx.stream(name[0], url + case.formatted_path, params=case.query, headers=case.headers,
                                  timeout=30) as streamed:
                    status = streamed.status_code
            except httpx.LocalProtocolError:
                return  # a header no HTTP client would send
        else:
            status = case.call(base_url=url, timeout=30).status_code
        answered[(who, name, status)] += 1
        if status >= 500:
            failures.append(f"{who} {name[0]} {name[1]} -> {status}: {case.as_curl_command()[:300]}")

    run()


@pytest.mark.parametrize("path", ["/osmand", "/v1/ingest/fixes"])
def test_the_ingest_operations_declare_how_they_are_authenticated(sync_server, path):
    document = httpx.get(f"{sync_server.url}/openapi.json", timeout=30).json()
    operation = document["paths"][path]["post"]
    assert {"401", "422", "429"} <= set(operation["responses"])
