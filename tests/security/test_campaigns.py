"""The bounded versions of the reliability campaigns (`make reliability` runs the full sizes).

Each runs the same code as the full campaign with small sizes and must report zero for every
figure in MUST_BE_ZERO, and must actually have exercised its faults (a campaign that injected
nothing proves nothing).
"""

from __future__ import annotations

import shutil

import pytest

from tests.reliability.campaigns import MUST_BE_ZERO, run

pytestmark = pytest.mark.allow_leaks("campaigns run their servers in child processes and join them")


def _zeros(result: dict) -> dict:
    assert not result.get("error"), result
    return {k: result[k] for k in MUST_BE_ZERO if k in result and result[k]}


def test_crash_campaign_bounded() -> None:
    result = run("crash", bounded=True)
    assert _zeros(result) == {} and result["kills"] >= 3 and result["actions"] > 0, result


def test_network_campaign_bounded() -> None:
    result = run("network", bounded=True)
    assert _zeros(result) == {} and result["lost_ack_injections"] >= 2 and result["faults_injected"] >= 2, result


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (apt-get install strace)")
def test_io_campaign_bounded() -> None:
    result = run("io", bounded=True)
    assert _zeros(result) == {} and result["faults_injected"] >= 2, result
    # every injected failure either surfaced as an error the officer sees, or the run still succeeded
    assert result["errors_shown"] + result["absorbed"] == result["faults_injected"], result


def test_fuzz_campaign_bounded() -> None:
    result = run("fuzz", bounded=True)
    assert _zeros(result) == {} and result["cases"] >= 2_300, result
    assert all(t["accepted"] > 0 and t["rejected"] > 0 for t in result["by_target"].values()), result


def test_canary_campaign() -> None:
    result = run("canary", bounded=True)
    assert _zeros(result) == {} and result["files_scanned"] > 0 and result["positive_control_files"] >= 1, result
