"""The map page's defences, checked in a real QtWebEngine page offscreen: the Content-Security-Policy,
WebRTC removed from the page and its frames and kept off UDP by the engine's policy, a bridge that has
only the page's slots and refuses what the view did not show, and zones that cannot be drawn shown to
the officer."""

from __future__ import annotations

import json
import socket
import time

import pytest
import shiboken6
from PySide6.QtCore import QUrl

from maps.view import MapView
from tests.maps.test_view import ZONES, devices, dispose, js, status, wait_until

pytestmark = pytest.mark.webengine


@pytest.fixture(scope="module")
def view(qapp):
    v = MapView(None, coalesce_ms=20)
    v.resize(900, 600)
    v.show()
    wait_until(qapp, lambda: v.is_ready, timeout=30)
    v.set_devices(devices(20))
    v.show_zones(ZONES)
    wait_until(qapp, lambda: status(qapp, v)["devices"] == 20)
    yield v
    v.shutdown()
    dispose(qapp, v)


def page_bridge(qapp, view) -> None:
    """A second QWebChannel client in the page, as a hostile script would open one (window.__bridge)."""
    js(qapp, view, "new QWebChannel(qt.webChannelTransport, function (c) { window.__bridge = c.objects.bridge; }); 1")
    wait_until(qapp, lambda: js(qapp, view, "typeof window.__bridge") == "object")


def test_inline_script_eval_and_outside_images_are_refused_by_the_csp(qapp, view):
    js(qapp, view, "window.__violations = []; document.addEventListener('securitypolicyviolation', "
                   "function (e) { window.__violations.push(e.effectiveDirective); }); 1")
    assert js(qapp, view, "var s = document.createElement('script'); s.textContent = 'window.__ran = 1'; "
                          "document.head.appendChild(s); String(window.__ran)") == "undefined"
    assert js(qapp, view, "(function () { try { return String(eval('1 + 1')); } "
                          "catch (e) { return e.name; } })()") == "EvalError"
    js(qapp, view, "var f = document.createElement('iframe'); f.src = 'https://example.com/'; "
                   "document.body.appendChild(f); 1")
    wait_until(qapp, lambda: {"script-src-elem", "frame-src"}
               <= set(json.loads(js(qapp, view, "JSON.stringify(window.__violations)"))))
    assert status(qapp, view)["devices"] == 20  # the page's own scripts (nonce) still run


def test_webrtc_is_gone_from_the_page_and_from_frames_it_creates(qapp, view):
    assert js(qapp, view, "typeof RTCPeerConnection + typeof webkitRTCPeerConnection + typeof RTCDataChannel") \
        == "undefined" * 3
    assert js(qapp, view, "var f = document.createElement('iframe'); document.body.appendChild(f); "
                          "String(typeof f.contentWindow.RTCPeerConnection)") == "undefined"
    assert js(qapp, view, "RTCPeerConnection = function () {}; typeof RTCPeerConnection") == "undefined"


def test_a_peer_connection_from_a_frame_the_page_script_misses_sends_no_udp(qapp, view):
    """window.frames[0] of an about:blank frame still has RTCPeerConnection; the engine-wide policy
    (maps.scheme.WEBRTC_POLICY_FLAG) keeps its STUN packets off the wire. Without the flag, this STUN
    server on loopback receives binding requests within a second (checked when the flag was added)."""
    stun = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stun.bind(("127.0.0.1", 0))
    stun.setblocking(False)
    try:
        script = """(function () {
            var f = document.createElement('iframe'); document.body.appendChild(f);
            var P = window.frames[window.frames.length - 1].RTCPeerConnection;
            if (!P) return 'no RTCPeerConnection';
            var pc = new P({iceServers: [{urls: 'stun:127.0.0.1:PORT'}]});
            pc.createDataChannel('x');
            pc.createOffer().then(function (o) { return pc.setLocalDescription(o); });
            window.__pc = pc; return 'started'; })()"""
        started = js(qapp, view, script.replace("PORT", str(stun.getsockname()[1])))
        received = []
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            qapp.processEvents()
            try:
                received.append(stun.recv(2048))
            except BlockingIOError:
                time.sleep(0.02)
        assert started in ("started", "no RTCPeerConnection")
        assert received == []
    finally:
        stun.close()
        js(qapp, view, "window.__pc && window.__pc.close(); 1")


def test_the_bridge_has_only_the_page_slots_and_cannot_be_deleted_from_the_page(qapp, view):
    page_bridge(qapp, view)
    members = set(json.loads(js(qapp, view, "JSON.stringify(Object.keys(window.__bridge).filter("
                                            "function (k) { return typeof window.__bridge[k] === 'function' "
                                            "&& k.indexOf('(') < 0; }))")))
    slots = members - {"unwrapQObject", "unwrapProperties", "propertyUpdate", "signalEmitted", "toJSON"}
    assert slots == {"ready", "participantClicked", "zoneClicked", "viewChanged", "pageError", "deleteLater"}
    refused = view._bridge.refused
    js(qapp, view, "window.__bridge.deleteLater(); 1")
    wait_until(qapp, lambda: view._bridge.refused > refused)
    assert shiboken6.isValid(view._bridge)
    clicks: list[str] = []
    view.participantClicked.connect(clicks.append)
    js(qapp, view, "window.__bridge.participantClicked('p3'); 1")
    wait_until(qapp, lambda: clicks == ["p3"])  # still answering after the attempt
    view.participantClicked.disconnect()


def test_the_page_cannot_open_a_participant_or_zone_the_map_does_not_show(qapp, view, caplog):
    page_bridge(qapp, view)
    clicks: list[str] = []
    zones: list[str] = []
    view.participantClicked.connect(clicks.append)
    view.zoneClicked.connect(zones.append)
    refused = view._bridge.refused
    js(qapp, view, "window.__bridge.participantClicked('p-999-not-on-map'); window.__bridge.zoneClicked('z-other');"
                   "window.__bridge.participantClicked('x'.repeat(5000)); "
                   "window.__bridge.viewChanged(60, 0, 10, 1, 3); window.__bridge.zoneClicked('z-home'); 1")
    wait_until(qapp, lambda: zones == ["z-home"])
    assert clicks == [] and view._bridge.refused == refused + 4
    assert "p-999" not in caplog.text and "xxxx" not in caplog.text  # ids the page made up stay out of logs
    view.participantClicked.disconnect()
    view.zoneClicked.disconnect()


def test_a_zone_that_cannot_be_drawn_is_shown_to_the_officer(qapp, view):
    assert status(qapp, view)["zones"] == 1 and status(qapp, view)["undrawableZones"] == 1
    notice = js(qapp, view, "document.querySelector('.fm-zone-notice').textContent")
    assert notice == "1 zone cannot be drawn:Bow tie (its boundary crosses itself)"
    assert view.undrawable_zones == [{"id": "z-bow", "name": "Bow tie", "reason": "its boundary crosses itself"}]


def test_a_navigation_away_is_stopped_by_the_request_guard(qapp):
    v = MapView(None)
    wait_until(qapp, lambda: v.is_ready, timeout=30)
    before = v.blocked_request_count()
    v.page.load(QUrl("https://tile.openstreetmap.org/1/1/1.png"))
    wait_until(qapp, lambda: v.blocked_request_count() > before)
    assert any("openstreetmap" in u for u in v.blocked_requests())
    v.shutdown()
    dispose(qapp, v)
