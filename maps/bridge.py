"""The one object the map page sees over QWebChannel, and the page-side guards against WebRTC.

QWebChannel publishes every public slot, signal and property of a registered object, including the
ones QObject itself has: a page script could call `bridge.deleteLater()` and delete the bridge (the
map then goes deaf; found with a real page). So the bridge has exactly the slots the page needs, each
with typed arguments that the view validates against what it showed (a page script cannot make the
window open a participant that is not on the map), and refuses to be deleted from the page: a
DeferredDelete event (what deleteLater posts) is dropped. The view deletes it through its parent.

Logs carry ids and counts only: nothing a page sends (participant labels, zone names, free text) is
logged except a page's own script errors, shortened.
"""

from __future__ import annotations

import logging
import math
from typing import Protocol

from PySide6.QtCore import QEvent, QObject, Slot
from PySide6.QtWebEngineCore import QWebEngineScript

log = logging.getLogger(__name__)

MAX_ID_CHARS = 200
MAX_ERROR_CHARS = 300


class PageEvents(Protocol):
    """What the view does with checked page events (maps.view.MapView implements it)."""

    def page_ready(self, leaflet_version: str) -> None: ...
    def page_participant_clicked(self, participant_id: str) -> None: ...
    def page_zone_clicked(self, zone_id: str) -> None: ...
    def page_view_changed(self, bounds: tuple[float, float, float, float], zoom: int) -> None: ...
    def page_error(self, message: str) -> None: ...


def _short_id(value: str) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS and value.isprintable() else None


class PageBridge(QObject):
    """channel.objects.bridge in the page. Slots are called by name from fieldmap.js."""

    def __init__(self, receiver: PageEvents | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.receiver = receiver
        self.refused = 0  # calls refused for bad arguments (tests and diagnostics)

    def refuse(self, what: str) -> None:
        self.refused += 1
        log.warning("map: the page sent an invalid %s; ignored", what)

    @Slot(str)
    def ready(self, leaflet_version: str) -> None:
        if self.receiver is not None:
            self.receiver.page_ready(leaflet_version[:20] if isinstance(leaflet_version, str) else "")

    @Slot(str)
    def participantClicked(self, participant_id: str) -> None:  # noqa: N802 (called by name from JavaScript)
        pid = _short_id(participant_id)
        if pid is None:
            self.refuse("participant click")
        elif self.receiver is not None:
            self.receiver.page_participant_clicked(pid)

    @Slot(str)
    def zoneClicked(self, zone_id: str) -> None:  # noqa: N802
        zid = _short_id(zone_id)
        if zid is None:
            self.refuse("zone click")
        elif self.receiver is not None:
            self.receiver.page_zone_clicked(zid)

    @Slot(float, float, float, float, int)
    def viewChanged(self, south: float, west: float, north: float, east: float, zoom: int) -> None:  # noqa: N802
        values = (south, west, north, east)
        if not (all(isinstance(v, float) and math.isfinite(v) for v in values)
                and -90 <= south <= north <= 90 and west <= east and 0 <= zoom <= 24):
            self.refuse("view change")
        elif self.receiver is not None:
            self.receiver.page_view_changed(values, int(zoom))

    @Slot(str)
    def pageError(self, message: str) -> None:  # noqa: N802
        text = "".join(c if c.isprintable() else " " for c in str(message))[:MAX_ERROR_CHARS]
        if self.receiver is not None:
            self.receiver.page_error(text)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.DeferredDelete:
            self.refuse("request to delete the bridge")
            return True
        return super().event(event)


#: Runs before any page script, in every frame: removes WebRTC, whose peer connections (STUN/TURN over
#: UDP) bypass the profile's request interceptor and could carry data off the machine or reveal its
#: addresses. Non-configurable, so a page script cannot put them back.
NO_WEBRTC_JS = """
(function () {
  var names = ["RTCPeerConnection", "webkitRTCPeerConnection", "RTCDataChannel", "RTCSessionDescription",
               "RTCIceCandidate", "RTCRtpSender", "RTCRtpReceiver", "RTCRtpTransceiver", "RTCDtlsTransport",
               "RTCIceTransport", "RTCSctpTransport", "RTCCertificate", "RTCEncodedAudioFrame", "RTCEncodedVideoFrame"];
  function scrub(win) {
    if (!win) return win;
    names.forEach(function (name) {
      try { Object.defineProperty(win, name, { value: undefined, writable: false, configurable: false }); }
      catch (e) {}
    });
    try {
      if (win.navigator && win.navigator.mediaDevices) {
        Object.defineProperty(win.navigator, "mediaDevices", { value: undefined, writable: false, configurable: false });
      }
    } catch (e) {}
    return win;
  }
  scrub(window);
  // an about:blank frame is created without running this script: scrub it when the page reaches for it
  // (the engine-wide UDP policy in maps.scheme covers the paths this cannot see, e.g. window.frames[0])
  [window.HTMLIFrameElement, window.HTMLFrameElement].forEach(function (cls) {
    if (!cls) return;
    var desc = Object.getOwnPropertyDescriptor(cls.prototype, "contentWindow");
    if (!desc || !desc.get) return;
    Object.defineProperty(cls.prototype, "contentWindow", {
      get: function () { return scrub(desc.get.call(this)); }, configurable: false,
    });
  });
})();
"""


def no_webrtc_script() -> QWebEngineScript:
    script = QWebEngineScript()
    script.setName("fieldmap-no-webrtc")
    script.setSourceCode(NO_WEBRTC_JS)
    script.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
    script.setWorldId(QWebEngineScript.ScriptWorldId.MainWorld)
    script.setRunsOnSubFrames(True)
    return script
