"""MapView: the QWebEngineView wrapper the GUI embeds.

Python -> page: runJavaScript calls, held back until the page said "ready" over QWebChannel. The view keeps
the current state (device snapshot, zones, track, selection) itself, so a page that (re)loads simply gets the
whole state pushed when it reports ready. Device updates are coalesced on a timer (300 ms) into one small
JSON batch of changed devices; the page is never regenerated to move a marker.

Page -> Python: typed calls on the "bridge" object (maps/bridge.py: ready, marker clicked, zone clicked, view
moved, errors), each checked; a click on anything the view did not show is refused. After shutdown() every
late message or runJavaScript callback is ignored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer, QUrl, Signal
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import (
    QWebEngineLoadingInfo,
    QWebEnginePage,
    QWebEngineProfile,
    QWebEngineSettings,
)
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QVBoxLayout, QWidget

from maps import layers
from maps.bridge import PageBridge, no_webrtc_script
from maps.page import BASE_URL, DEFAULT_CENTER, DEFAULT_ZOOM, PAGE_PATH, SCHEME, build_page_html
from maps.scheme import AppSchemeHandler, RequestGuard
from maps.tiles import TileStore

log = logging.getLogger(__name__)

COALESCE_MS = 300
DEMO_ATTRIBUTION = "© OpenStreetMap contributors, © Mapbox"


class _Page(QWebEnginePage):
    """Forwards the page's console errors to our log (a broken script must be visible, not silent)."""

    def javaScriptConsoleMessage(self, level, message, line, source):  # noqa: N802 (Qt override)
        if level == QWebEnginePage.JavaScriptConsoleMessageLevel.ErrorMessageLevel:
            log.warning("map page: %s (%s:%s)", message, source, line)


def _lock_down(profile: QWebEngineProfile) -> None:
    """What the map page may do beyond drawing: nothing. No WebRTC (its UDP traffic passes beside the
    request interceptor), no popups, clipboard, storage, plugins or screen capture."""
    profile.scripts().insert(no_webrtc_script())
    settings = profile.settings()
    attribute = QWebEngineSettings.WebAttribute
    settings.setAttribute(attribute.WebRTCPublicInterfacesOnly, True)
    for off in (attribute.JavascriptCanOpenWindows, attribute.JavascriptCanAccessClipboard,
                attribute.JavascriptCanPaste, attribute.LocalStorageEnabled, attribute.PluginsEnabled,
                attribute.ScreenCaptureEnabled, attribute.PdfViewerEnabled, attribute.LocalContentCanAccessRemoteUrls,
                attribute.AllowWindowActivationFromJavaScript, attribute.NavigateOnDropEnabled):
        settings.setAttribute(off, False)


class MapView(QWidget):
    participantClicked = Signal(str)
    zoneClicked = Signal(str)
    viewChanged = Signal(dict)
    ready = Signal()

    def __init__(
        self,
        tile_store: TileStore | None = None,
        parent: QWidget | None = None,
        *,
        allowed_hosts: tuple[str, ...] = (),
        center: tuple[float, float] = DEFAULT_CENTER,
        zoom: int = DEFAULT_ZOOM,
        coalesce_ms: int = COALESCE_MS,
    ) -> None:
        super().__init__(parent)
        self._alive = True
        self._ready = False
        self._devices: dict[str, dict] = {}
        self._pending: dict[str, list] = {}  # device_id -> compact row (maps/layers.py wire_*)
        self._zones: list[dict] = []
        #: zones the page cannot draw ({id, name, reason}); the page lists them for the officer
        self.undrawable_zones: list[dict] = []
        self._track: dict | None = None
        self._selected: str | None = None
        self._dark = False
        self._route: dict | None = None
        self._bounds: tuple[float, float, float, float] | None = None
        self._zoom: int | None = None
        self._queue: list[tuple[str, Callable[[Any], None] | None]] = []
        self.leaflet_version: str | None = None
        self.page_errors: list[str] = []

        # Creation order matters for teardown: Qt deletes children in creation order, and the page
        # (a child of the view) must be gone before its profile is deleted.
        self._view = QWebEngineView(self)
        self._profile = QWebEngineProfile(self)  # no storage name = off the record: nothing written to disk
        _lock_down(self._profile)
        hosts = tuple(allowed_hosts) + ((tile_store.agency_host,) if tile_store and tile_store.agency_host else ())
        self._guard = RequestGuard(hosts, self._profile)
        self._profile.setUrlRequestInterceptor(self._guard)
        self._scheme = AppSchemeHandler(tile_store, self._profile)
        self._profile.installUrlSchemeHandler(SCHEME.encode(), self._scheme)
        self._page = _Page(self._profile, self._view)
        self._bridge = PageBridge(self, self)
        self._channel = QWebChannel(self._page)
        self._channel.registerObject("bridge", self._bridge)
        self._page.setWebChannel(self._channel)
        self._view.setPage(self._page)
        self._page.loadingChanged.connect(self._on_loading_changed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._view)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(coalesce_ms)
        self._timer.timeout.connect(self.flush)

        self._tile_store = tile_store
        self._center, self._start_zoom = center, zoom
        self._set_page()
        self._page.load(QUrl(BASE_URL + PAGE_PATH))

    def _set_page(self) -> None:
        """The page for the tile store's packages as they are now (zoom range, attribution): after an
        import or a change of order, reload() shows them."""
        store = self._tile_store
        min_zoom, max_zoom = store.zoom_range if store else (3, 19)
        vector = store.vector_zoom_range if store else None
        center = self._center
        zoom = self._start_zoom
        if self._bounds is not None:  # keep the officer's place on a reload
            south, west, north, east = self._bounds
            center, zoom = ((south + north) / 2, (west + east) / 2), self._zoom or zoom
        self._scheme.set_page(
            build_page_html(
                center=center,
                zoom=zoom,
                max_native_zoom=max_zoom,
                max_zoom=max(18, max_zoom, 18 if vector is None else 19),
                attribution=(store.attribution if store else "") or DEMO_ATTRIBUTION,
            )
        )
        self._vector_layer = {"minZoom": vector[0], "maxNativeZoom": vector[1]} if vector else None

    # ------------------------------------------------------------------ properties

    @property
    def is_ready(self) -> bool:
        return self._ready

    @property
    def page(self) -> QWebEnginePage:
        return self._page

    @property
    def web_view(self) -> QWebEngineView:
        return self._view

    @property
    def scheme_handler(self) -> AppSchemeHandler:
        return self._scheme

    @property
    def profile(self) -> QWebEngineProfile:
        return self._profile

    def blocked_request_count(self) -> int:
        return self._guard.blocked_count()

    def blocked_requests(self) -> list[str]:
        return self._guard.recent_blocked()

    # ------------------------------------------------------------------ data in

    def set_devices(self, devices: list[dict]) -> None:
        """Replace the whole device snapshot (sent at once; cancels pending coalesced updates)."""
        clean = (layers.clean_device(d) for d in devices)
        self._devices = {d["device_id"]: d for d in clean if d is not None}
        self._pending.clear()
        self._timer.stop()
        self._call_json("FieldMap.setDevices", layers.wire_rows(self._devices.values()))

    def update_devices(self, devices: list[dict]) -> None:
        """Changed devices only; applied in one batch when the coalescing timer fires."""
        for raw in devices:
            d = layers.clean_device(raw, keep_without_position=False)
            if d is None:
                continue
            old = self._devices.get(d["device_id"])
            same_identity = old is not None and old["participant_id"] == d["participant_id"] and old["label"] == d["label"]
            self._devices[d["device_id"]] = d
            # rows are built as updates arrive, so flush() only has to serialise them
            self._pending[d["device_id"]] = layers.wire_move(d) if same_identity else layers.wire_row(d)
        if self._pending and not self._timer.isActive():
            self._timer.start()

    def remove_devices(self, device_ids: list[str]) -> None:
        for device_id in device_ids:
            if self._devices.pop(device_id, None) is not None:
                self._pending[device_id] = layers.wire_removal(device_id)
        if self._pending and not self._timer.isActive():
            self._timer.start()

    def flush(self, callback: Callable[[Any], None] | None = None) -> int:
        """Send the coalesced updates now; `callback` gets the page's apply time in ms. Returns batch size."""
        self._timer.stop()
        batch = list(self._pending.values())
        self._pending.clear()
        if batch:
            self._call_json("FieldMap.updateDevices", batch, callback=callback)
        return len(batch)

    def select_participant(self, participant_id: str) -> None:
        self._selected = participant_id
        self._call("FieldMap.select", participant_id)

    def show_route(self, route: dict | None) -> None:
        """Draw the day's route (workstation.route.route_payload), or clear it with None."""
        cleaned = layers.clean_route(route)
        if cleaned == self._route:
            return
        self._route = cleaned
        if cleaned is None:
            self._call("FieldMap.clearRoute")
        else:
            self._call("FieldMap.showRoute", cleaned)

    def set_dark(self, dark: bool) -> None:
        """Darken the basemap for the dark palette (markers keep their colours)."""
        self._dark = bool(dark)
        self._call("FieldMap.setDark", self._dark)

    def show_zones(self, zones: list[dict]) -> None:
        self._zones, self.undrawable_zones = layers.sort_zones(zones)
        self._call("FieldMap.showZones", self._zones, self.undrawable_zones)

    def show_track(self, positions: list[dict], alerts: list[dict] | None = None) -> None:
        self._track = layers.track_payload(positions, alerts)
        self._call("FieldMap.showTrack", self._track)

    def clear_track(self) -> None:
        self._track = None
        self._call("FieldMap.clearTrack")

    # ------------------------------------------------------------------ data out

    def devices_in_view(self) -> list[dict]:
        """Devices with a position inside the visible area (the accessible list alternative)."""
        if self._bounds is None:
            return []
        inside = [dict(d) for d in self._devices.values() if layers.in_bounds(d, self._bounds)]
        return sorted(inside, key=lambda d: (d["label"].lower(), d["device_id"]))

    def devices(self) -> list[dict]:
        return [dict(d) for d in self._devices.values()]

    def view_state(self) -> dict:
        return {"bounds": list(self._bounds) if self._bounds else None, "zoom": self._zoom}

    def evaluate(self, script: str, callback: Callable[[Any], None] | None = None) -> None:
        """Run JavaScript in the page once it is ready (queued until then); late results are dropped."""
        if not self._alive:
            return
        if not self._ready:
            self._queue.append((script, callback))
            return
        self._page.runJavaScript(script, 0, self._guarded(callback))

    # ------------------------------------------------------------------ plumbing

    def _call(self, function: str, *args: Any, callback: Callable[[Any], None] | None = None) -> None:
        if not self._alive or not self._ready:
            return  # state is kept here and pushed whole when the page reports ready
        self._page.runJavaScript(self._script(function, *args), 0, self._guarded(callback))

    def _call_json(self, function: str, payload: Any, callback: Callable[[Any], None] | None = None) -> None:
        """Like _call, but the payload travels as one JSON string parsed by JSON.parse in the page:
        V8 parses JSON text several times faster than the same data written as a script literal."""
        if not self._alive or not self._ready:
            return
        text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
        script = f"{function}(JSON.parse({json.dumps(text)}))"
        self._page.runJavaScript(script, 0, self._guarded(callback))

    @staticmethod
    def _script(function: str, *args: Any) -> str:
        return f"{function}({','.join(json.dumps(a, separators=(',', ':'), allow_nan=False) for a in args)})"

    def _guarded(self, callback: Callable[[Any], None] | None) -> Callable[[Any], None]:
        def deliver(result: Any) -> None:
            if self._alive and callback is not None:
                callback(result)

        return deliver

    def _on_loading_changed(self, info) -> None:
        # main-frame loads only: a frame a page script adds must not make the view stop talking to the page
        if info.status() == QWebEngineLoadingInfo.LoadStatus.LoadStartedStatus:
            self._ready = False

    # ---- page events (maps.bridge.PageBridge has checked the argument types) --------------

    def page_ready(self, leaflet_version: str) -> None:
        if not self._alive:
            return
        self.leaflet_version = leaflet_version
        self._ready = True
        self._push_state()
        self.ready.emit()

    def page_participant_clicked(self, participant_id: str) -> None:
        if not self._alive:
            return
        # only a participant the map shows: a page script cannot make the window open any record
        if not any(d["participant_id"] == participant_id for d in self._devices.values()):
            self._bridge.refuse("participant click (not on the map)")
            return
        self.participantClicked.emit(participant_id)

    def page_zone_clicked(self, zone_id: str) -> None:
        if not self._alive:
            return
        if not any(z["id"] == zone_id for z in self._zones):
            self._bridge.refuse("zone click (not on the map)")
            return
        self.zoneClicked.emit(zone_id)

    def page_view_changed(self, bounds: tuple[float, float, float, float], zoom: int) -> None:
        if not self._alive:
            return
        self._bounds, self._zoom = bounds, zoom
        self.viewChanged.emit({"bounds": list(bounds), "zoom": zoom})

    def page_error(self, message: str) -> None:
        if not self._alive:
            return
        self.page_errors.append(message)
        log.warning("map page error: %s", message)

    def _push_state(self) -> None:
        self._pending.clear()
        if self._vector_layer is not None:
            self._call("FieldMap.setVectorLayer", self._vector_layer)
        self._call_json("FieldMap.setDevices", layers.wire_rows(self._devices.values()))
        if self._zones or self.undrawable_zones:
            self._call("FieldMap.showZones", self._zones, self.undrawable_zones)
        if self._track is not None:
            self._call("FieldMap.showTrack", self._track)
        if self._selected is not None:
            self._call("FieldMap.select", self._selected)
        if self._dark:
            self._call("FieldMap.setDark", True)
        if self._route is not None:
            self._call("FieldMap.showRoute", self._route)
        queued, self._queue = self._queue, []
        for script, callback in queued:
            self._page.runJavaScript(script, 0, self._guarded(callback))

    def reload(self) -> None:
        """Rebuild the page for the tile store's current packages and load it again (state is pushed
        whole when it reports ready)."""
        if not self._alive:
            return
        self._set_page()
        self._page.load(QUrl(BASE_URL + PAGE_PATH))

    def shutdown(self) -> None:
        """Stop timers and detach the bridge; anything that arrives afterwards is ignored."""
        if not self._alive:
            return
        self._alive = False
        self._ready = False
        self._timer.stop()
        self._queue.clear()
        self._pending.clear()
        self._bridge.receiver = None
        self._channel.deregisterObject(self._bridge)
        self._scheme.close()
        self._page.triggerAction(QWebEnginePage.WebAction.Stop)
        # The page must be deleted before its profile (Qt warns and may crash otherwise); deleting it
        # first, explicitly, does not depend on the order in which the parent later deletes children.
        self._view.setPage(None)
        self._page.deleteLater()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.shutdown()
        super().closeEvent(event)

