/* The page side of the field map: live device layer, participant track, zones, and the bridge to Python.
 *
 * Python calls FieldMap.* through runJavaScript once the page said "ready" over QWebChannel; the page sends
 * events (marker clicked, zone clicked, view changed, errors) through send(), one bridge slot per event.
 * Devices are drawn on one canvas by DeviceLayer (not one DOM/SVG element per marker), so moving all
 * 7,000 markers is an array update plus one redraw. Nothing here fetches anything but app-scheme URLs.
 */
(function () {
  "use strict";

  // Marker states differ by shape as well as colour (a colour-blind officer, a grey printout): OK is a
  // blue circle, an open incident an amber triangle with a dark outline, no fix a purple square. Blue
  // and amber are the pair that stays apart under every common colour-vision deficiency (Okabe-Ito),
  // and they differ in lightness too. A stale position keeps its shape and colour but is drawn hollow
  // with a dashed outline, so staleness shows on every marker, incidents included.
  var STATE_STYLE = {
    incident: { fill: "#f0a202", stroke: "#3b2300", shape: "triangle", size: 9, rank: 4, label: "Incident open" },
    no_fix: { fill: "#ffffff", stroke: "#6a1b9a", shape: "square", size: 6, rank: 3, label: "No GPS fix" },
    stale: { fill: "#1f5fa8", stroke: "#ffffff", shape: "circle", size: 6, rank: 2, label: "OK" },
    ok: { fill: "#1f5fa8", stroke: "#ffffff", shape: "circle", size: 6, rank: 1, label: "OK" },
  };
  var STALE_LABEL = "Stale position: hollow, dashed";

  function shapePath(ctx, shape, x, y, r) {
    if (shape === "triangle") {
      ctx.moveTo(x, y - r);
      ctx.lineTo(x + r * 0.95, y + r * 0.7);
      ctx.lineTo(x - r * 0.95, y + r * 0.7);
      ctx.closePath();
    } else if (shape === "square") {
      ctx.rect(x - r * 0.85, y - r * 0.85, r * 1.7, r * 1.7);
    } else {
      ctx.moveTo(x + r, y);
      ctx.arc(x, y, r, 0, 2 * Math.PI);
    }
  }
  var CLUSTER_BELOW_ZOOM = 15; // below this zoom nearby devices merge into counted clusters
  var ACCURACY_FROM_ZOOM = 17; // everyone's accuracy circle only this close in (a dense caseload gets cluttered)
  var SELECTED_ACCURACY_FROM_ZOOM = 14; // the selected participant's circle much earlier
  var CLUSTER_CELL_PX = 56;
  var HIT_RADIUS_PX = 9;

  var bridge = null;
  // One typed slot per event (maps/bridge.py); the bridge exposes nothing else the page could call.
  var send = function (msg) {
    if (!bridge) return;
    switch (msg.type) {
      case "ready": bridge.ready(String(msg.leaflet)); break;
      case "participantClicked": bridge.participantClicked(String(msg.participant_id)); break;
      case "zoneClicked": bridge.zoneClicked(String(msg.zone_id)); break;
      case "viewChanged":
        bridge.viewChanged(msg.bounds[0], msg.bounds[1], msg.bounds[2], msg.bounds[3], msg.zoom); break;
      case "error": bridge.pageError(String(msg.message)); break;
    }
  };

  function ageText(ms) {
    if (ms === null || ms === undefined || !isFinite(ms)) return "no fix";
    var s = Math.max(0, (Date.now() - ms) / 1000);
    if (s < 60) return Math.round(s) + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400 * 2) return (s / 3600).toFixed(s < 36000 ? 1 : 0) + " h ago";
    return Math.round(s / 86400) + " days ago";
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // ------------------------------------------------------------------ live device layer (one canvas)

  var DeviceLayer = L.Layer.extend({
    initialize: function () {
      this._devices = new Map(); // device_id -> record
      this._hits = []; // [{x, y, r, kind: 'device'|'cluster', rec|members}]
      this._selected = null; // participant_id
    },

    onAdd: function (map) {
      this._map = map;
      var pane = map.getPane("devices") || map.createPane("devices");
      pane.style.zIndex = 450;
      this._canvas = L.DomUtil.create("canvas", "fm-device-canvas leaflet-zoom-hide", pane);
      this._canvas.style.pointerEvents = "none";
      map.on("moveend zoomend resize viewreset", this.redraw, this);
      map.on("mousemove", this._onMouseMove, this);
      map.on("click", this._onClick, this);
      this._tooltip = L.tooltip({ direction: "top", offset: [0, -8], className: "fm-tooltip" });
      this.redraw();
    },

    onRemove: function (map) {
      map.off("moveend zoomend resize viewreset", this.redraw, this);
      map.off("mousemove", this._onMouseMove, this);
      map.off("click", this._onClick, this);
      L.DomUtil.remove(this._canvas);
    },

    // rows: [device_id, participant_id, label, lat, lon, fix_time, accuracy_m, state, stale] (maps/layers.py WIRE_FIELDS)
    _record: function (row) {
      var lat = row[3], lon = row[4];
      var located = typeof lat === "number" && typeof lon === "number" && isFinite(lat) && isFinite(lon) &&
        Math.abs(lat) <= 90 && Math.abs(lon) <= 180;
      return {
        id: String(row[0]),
        pid: String(row[1]),
        label: row[2] || row[1],
        lat: located ? lat : null,
        lon: located ? lon : null,
        t: row[5] ? Date.parse(row[5]) : null,
        acc: Number(row[6]) || 0,
        state: STATE_STYLE[row[7]] ? row[7] : "ok",
        stale: row.length > 8 ? !!row[8] : row[7] === "stale",
      };
    },

    setAll: function (rows) {
      this._devices.clear();
      for (var i = 0; i < rows.length; i++) {
        var r = this._record(rows[i]);
        this._devices.set(r.id, r);
      }
      this.redraw();
    },

    // full rows (9 fields), short moves [id, lat, lon, fix_time, accuracy_m, state, stale], removals [id]
    update: function (rows) {
      for (var i = 0; i < rows.length; i++) {
        var row = rows[i];
        if (row.length === 1) {
          this._devices.delete(String(row[0]));
          continue;
        }
        if (row.length === 6 || row.length === 7) {
          var old = this._devices.get(String(row[0]));
          if (!old) continue; // a move for a device we never saw: the next snapshot brings it
          row = [row[0], old.pid, old.label, row[1], row[2], row[3], row[4], row[5], row.length === 7 ? row[6] : row[5] === "stale"];
        }
        var r = this._record(row);
        this._devices.set(r.id, r);
      }
      this.redraw();
    },

    select: function (pid) {
      this._selected = pid;
      var found = null;
      this._devices.forEach(function (r) {
        if (r.pid === pid && r.lat !== null && (!found || (r.t || 0) > (found.t || 0))) found = r;
      });
      if (found) this._map.setView([found.lat, found.lon], Math.max(this._map.getZoom(), CLUSTER_BELOW_ZOOM));
      this.redraw();
      return found !== null;
    },

    count: function () {
      return this._devices.size;
    },

    redraw: function () {
      var map = this._map;
      if (!map) return;
      var size = map.getSize();
      var topLeft = map.containerPointToLayerPoint([0, 0]);
      var canvas = this._canvas;
      var ratio = window.devicePixelRatio || 1;
      L.DomUtil.setPosition(canvas, topLeft);
      if (canvas.width !== size.x * ratio || canvas.height !== size.y * ratio) {
        canvas.width = size.x * ratio;
        canvas.height = size.y * ratio;
        canvas.style.width = size.x + "px";
        canvas.style.height = size.y + "px";
      }
      var ctx = canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, size.x, size.y);

      var zoom = map.getZoom();
      var origin = map.getPixelOrigin().add(map._getMapPanePos().multiplyBy(-1)).round();
      var scale = 256 * Math.pow(2, zoom);
      var pad = 20;
      var visible = [];
      this._devices.forEach(function (r) {
        if (r.lat === null) return;
        // inline spherical-mercator projection: ~10x faster than map.latLngToContainerPoint per point
        var x = (r.lon + 180) / 360 * scale - origin.x;
        var sin = Math.sin(r.lat * Math.PI / 180);
        var y = (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * scale - origin.y;
        if (x < -pad || y < -pad || x > size.x + pad || y > size.y + pad) return;
        visible.push({ x: x, y: y, rec: r });
      });
      this._hits = [];
      if (zoom < CLUSTER_BELOW_ZOOM) this._drawClustered(ctx, visible);
      else this._drawMarkers(ctx, visible, zoom);
      this._inView = visible.length;
    },

    _drawClustered: function (ctx, visible) {
      var cells = new Map();
      for (var i = 0; i < visible.length; i++) {
        var v = visible[i];
        var key = Math.floor(v.x / CLUSTER_CELL_PX) + ":" + Math.floor(v.y / CLUSTER_CELL_PX);
        var cell = cells.get(key);
        if (!cell) cells.set(key, (cell = []));
        cell.push(v);
      }
      var singles = [];
      var self = this;
      cells.forEach(function (members) {
        var selectedHere = members.some(function (m) { return m.rec.pid === self._selected; });
        if (members.length < 3 || selectedHere) {
          Array.prototype.push.apply(singles, members);
          return;
        }
        var sx = 0, sy = 0, incidents = 0;
        for (var j = 0; j < members.length; j++) {
          sx += members[j].x;
          sy += members[j].y;
          if (members[j].rec.state === "incident") incidents++;
        }
        var cx = sx / members.length, cy = sy / members.length;
        var r = 11 + Math.min(12, Math.sqrt(members.length) * 1.2);
        ctx.beginPath();
        ctx.arc(cx, cy, r + 4, 0, 2 * Math.PI);
        ctx.fillStyle = "rgba(38,50,56,0.25)";
        ctx.fill();
        ctx.beginPath();
        ctx.arc(cx, cy, r, 0, 2 * Math.PI);
        ctx.fillStyle = "#37474f";
        ctx.fill();
        ctx.lineWidth = 2;
        ctx.strokeStyle = "#ffffff";
        ctx.stroke();
        ctx.fillStyle = "#ffffff";
        ctx.font = "bold 12px sans-serif";
        ctx.textAlign = "center";
        ctx.textBaseline = "middle";
        ctx.fillText(String(members.length), cx, cy);
        if (incidents) {
          // open incidents stay visible inside a cluster: an incident triangle with their count
          var bx = cx + r * 0.75, by = cy - r * 0.75;
          ctx.beginPath();
          shapePath(ctx, "triangle", bx, by, 10);
          ctx.fillStyle = STATE_STYLE.incident.fill;
          ctx.fill();
          ctx.lineWidth = 1.5;
          ctx.strokeStyle = STATE_STYLE.incident.stroke;
          ctx.stroke();
          by += 2;
          ctx.fillStyle = STATE_STYLE.incident.stroke;
          ctx.font = "bold 10px sans-serif";
          ctx.fillText(String(incidents), bx, by);
        }
        self._hits.push({ x: cx, y: cy, r: r, kind: "cluster", members: members });
      });
      this._drawMarkers(ctx, singles, this._map.getZoom());
    },

    _drawMarkers: function (ctx, list, zoom) {
      if (zoom >= SELECTED_ACCURACY_FROM_ZOOM) {
        ctx.fillStyle = "rgba(33,150,243,0.10)";
        ctx.strokeStyle = "rgba(33,150,243,0.45)";
        ctx.lineWidth = 1;
        for (var i = 0; i < list.length; i++) {
          var rec = list[i].rec;
          if (!rec.acc || (zoom < ACCURACY_FROM_ZOOM && rec.pid !== this._selected)) continue;
          var mpp = 40075016.686 * Math.cos(rec.lat * Math.PI / 180) / Math.pow(2, zoom + 8);
          var rpx = rec.acc / mpp;
          if (rpx < 7) continue;
          ctx.beginPath();
          ctx.arc(list[i].x, list[i].y, rpx, 0, 2 * Math.PI);
          ctx.fill();
          ctx.stroke();
        }
      }
      // one path per (state, stale): far fewer canvas state changes than styling each marker; stale
      // first and incidents last, so what needs the officer is drawn on top
      var self = this;
      var selected = [];
      var order = Object.keys(STATE_STYLE).reverse();
      [true, false].forEach(function (stale) {
        order.forEach(function (state) {
          var style = STATE_STYLE[state];
          var any = false;
          ctx.beginPath();
          for (var k = 0; k < list.length; k++) {
            var v = list[k];
            if (v.rec.state !== state || v.rec.stale !== stale) continue;
            if (v.rec.pid === self._selected) selected.push(v);
            shapePath(ctx, style.shape, v.x, v.y, style.size);
            self._hits.push({ x: v.x, y: v.y, r: HIT_RADIUS_PX, kind: "device", rec: v.rec });
            any = true;
          }
          if (!any) return;
          if (stale) {
            ctx.fillStyle = "rgba(255,255,255,0.85)";
            ctx.fill();
            ctx.setLineDash([3, 2]);
            ctx.lineWidth = 2.5;
            ctx.strokeStyle = state === "no_fix" ? style.stroke : style.fill;
            ctx.stroke();
            ctx.setLineDash([]);
          } else {
            ctx.fillStyle = style.fill;
            ctx.fill();
            ctx.lineWidth = state === "incident" || state === "no_fix" ? 2 : 1.5;
            ctx.strokeStyle = style.stroke;
            ctx.stroke();
          }
        });
      });
      for (var s = 0; s < selected.length; s++) {
        ctx.beginPath();
        ctx.arc(selected[s].x, selected[s].y, 12, 0, 2 * Math.PI);
        ctx.lineWidth = 3;
        ctx.strokeStyle = "#1565c0";
        ctx.stroke();
      }
    },

    _hitAt: function (point) {
      // last drawn wins: it is on top
      for (var i = this._hits.length - 1; i >= 0; i--) {
        var h = this._hits[i];
        var dx = h.x - point.x, dy = h.y - point.y;
        if (dx * dx + dy * dy <= h.r * h.r) return h;
      }
      return null;
    },

    _onMouseMove: function (e) {
      var hit = this._hitAt(e.containerPoint);
      this._map.getContainer().style.cursor = hit ? "pointer" : "";
      if (!hit) {
        this._map.closeTooltip(this._tooltip);
        return;
      }
      var html;
      if (hit.kind === "cluster") {
        var open = hit.members.filter(function (m) { return m.rec.state === "incident"; }).length;
        html = "<b>" + hit.members.length + " devices</b>" + (open ? "<br>" + open + " with an open incident" : "") +
          "<br>click to zoom in";
      } else {
        var r = hit.rec;
        html = "<b>" + escapeHtml(r.label) + "</b><br>" + STATE_STYLE[r.state].label + (r.stale ? " · stale" : "") +
          "<br>fix " + ageText(r.t) + (r.acc ? " · ±" + Math.round(r.acc) + " m" : "");
      }
      this._tooltip.setLatLng(this._map.containerPointToLatLng([hit.x, hit.y])).setContent(html);
      this._map.openTooltip(this._tooltip);
    },

    _onClick: function (e) {
      var hit = this._hitAt(e.containerPoint);
      if (!hit) return;
      if (hit.kind === "cluster") {
        var bounds = L.latLngBounds(hit.members.map(function (m) { return [m.rec.lat, m.rec.lon]; }));
        this._map.fitBounds(bounds.pad(0.2), { maxZoom: CLUSTER_BELOW_ZOOM });
        return;
      }
      this._selected = hit.rec.pid;
      this.redraw();
      send({ type: "participantClicked", participant_id: hit.rec.pid });
    },
  });

  // ------------------------------------------------------------------ zones

  function drawZones(group, zones) {
    group.clearLayers();
    zones.forEach(function (z) {
      var exclusion = z.kind === "exclusion";
      var color = exclusion ? "#c62828" : "#1565c0";
      var style = {
        color: color,
        weight: z.active_now ? 3.5 : 1.5,
        opacity: z.active_now ? 0.95 : 0.6,
        fillOpacity: z.active_now ? 0.18 : 0.05,
        dashArray: z.active_now ? null : "6 6",
      };
      var layer;
      if (z.shape === "circle") layer = L.circle([z.center_lat, z.center_lon], L.extend({ radius: z.radius_m }, style));
      else layer = L.polygon(z.polygon, style);
      var schedule = (z.schedule_text && z.schedule_text.length)
        ? z.schedule_text.map(escapeHtml).join("<br>") : "always";
      layer.bindPopup(
        "<b>" + escapeHtml(z.name) + "</b><br>" + (exclusion ? "Exclusion zone" : "Inclusion zone") +
        (z.active_now ? " — <b>active now</b>" : " — not active now") + "<br><small>" + schedule + "</small>"
      );
      layer.on("click", function () { send({ type: "zoneClicked", zone_id: z.id }); });
      group.addLayer(layer);
    });
  }

  // ------------------------------------------------------------------ track with playback

  function ageColor(frac) {
    // old fixes pale, recent fixes dark blue
    var a = [179, 205, 227], b = [8, 48, 107];
    var c = a.map(function (v, i) { return Math.round(v + (b[i] - v) * frac); });
    return "rgb(" + c.join(",") + ")";
  }

  var Track = {
    group: null,
    control: null,
    points: [],
    timer: null,
    now: 0,
    speed: 600, // track seconds per real second

    show: function (map, data) {
      this.clear(map);
      var pts = data.points || [];
      this.points = pts.map(function (p) { return L.extend({}, p, { ms: Date.parse(p.t) }); });
      // the track sits above the live devices (pane 450) so the played path and its head stay visible
      var pane = map.getPane("track") || map.createPane("track");
      pane.style.zIndex = 460;
      this.group = L.layerGroup().addTo(map);
      if (!pts.length) return;
      var latlngs = this.points.map(function (p) { return [p.lat, p.lon]; });
      var renderer = L.canvas({ padding: 0.3, pane: "track" });
      L.polyline(latlngs, { color: "#5c6bc0", weight: 2, opacity: 0.35, renderer: renderer }).addTo(this.group);
      this.played = L.polyline([], { color: "#1a237e", weight: 3, opacity: 0.85, renderer: renderer })
        .addTo(this.group);
      var t0 = this.points[0].ms, t1 = this.points[this.points.length - 1].ms;
      var span = Math.max(1, t1 - t0);
      this.markers = this.points.map(function (p) {
        var flagged = p.flags && p.flags.length;
        var m = L.circleMarker([p.lat, p.lon], flagged ? {
          renderer: renderer, radius: 5, color: "#ef6c00", weight: 2, dashArray: "2 2",
          fillColor: "#fff3e0", fillOpacity: 1,
        } : {
          renderer: renderer, radius: 3.5, stroke: false, fillColor: ageColor((p.ms - t0) / span), fillOpacity: 0.95,
        });
        m.bindTooltip(fixTooltip(p, flagged));
        return m.addTo(Track.group);
      });
      (data.stops || []).forEach(function (s) {
        L.circleMarker([s.lat, s.lon], {
          renderer: renderer, radius: 9, color: "#4a148c", weight: 2, fillColor: "#ce93d8", fillOpacity: 0.8,
        }).bindTooltip("<b>Stop " + Math.round(s.minutes) + " min</b><br>" +
          new Date(Date.parse(s.start)).toLocaleString() + " – " + new Date(Date.parse(s.end)).toLocaleTimeString())
          .addTo(Track.group);
      });
      (data.alerts || []).forEach(function (a) {
        if (a.lat === null || a.lon === null || a.lat === undefined) return;
        L.marker([a.lat, a.lon], {
          icon: L.divIcon({ className: "fm-alert-icon", html: "!", iconSize: [20, 20] }),
          keyboard: false,
        }).bindTooltip("<b>" + escapeHtml(a.kind) + "</b> (" + escapeHtml(a.severity || "") + ")<br>" +
          new Date(Date.parse(a.opened_at)).toLocaleString()).addTo(Track.group);
      });
      this.head = L.circleMarker(latlngs[latlngs.length - 1], {
        renderer: renderer, radius: 8, color: "#ffffff", weight: 3, fillColor: "#1a237e", fillOpacity: 1,
      }).addTo(this.group);
      this.t0 = t0;
      this.t1 = t1;
      this.control = this._makeControl().addTo(map);
      this.legend = this._makeLegend().addTo(map);
      map.fitBounds(L.latLngBounds(latlngs).pad(0.15), { maxZoom: 16 });
      this.seek(t1);
    },

    seek: function (ms) {
      this.now = Math.min(Math.max(ms, this.t0), this.t1);
      var upto = [];
      var head = null;
      for (var i = 0; i < this.points.length; i++) {
        var shown = this.points[i].ms <= this.now;
        this.markers[i].setStyle({ opacity: shown ? 1 : 0, fillOpacity: shown ? 0.95 : 0 });
        if (shown) {
          upto.push([this.points[i].lat, this.points[i].lon]);
          head = this.points[i];
        }
      }
      this.played.setLatLngs(upto);
      if (head) this.head.setLatLng([head.lat, head.lon]);
      if (this.slider) {
        this.slider.value = String(Math.round((this.now - this.t0) / 1000));
        this.label.textContent = new Date(this.now).toLocaleString();
      }
    },

    play: function () {
      var self = this;
      if (this.timer) return;
      if (this.now >= this.t1) this.seek(this.t0);
      this.button.textContent = "❚❚";
      this.button.title = "Pause";
      var last = performance.now();
      this.timer = setInterval(function () {
        var t = performance.now();
        self.seek(self.now + (t - last) * self.speed);
        last = t;
        if (self.now >= self.t1) self.pause();
      }, 100);
    },

    pause: function () {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      if (this.button) {
        this.button.textContent = "▶";
        this.button.title = "Play";
      }
    },

    _makeLegend: function () {
      var Ctl = L.Control.extend({
        options: { position: "bottomright" },
        onAdd: function () {
          var box = L.DomUtil.create("div", "fm-legend fm-track-legend");
          box.setAttribute("role", "note");
          box.innerHTML = '<span><i class="fm-fix"></i>fix (older → newer)</span>' +
            '<span><i class="fm-flagged"></i>flagged fix, not trusted: ' +
            Object.keys(FLAG_LABEL).map(function (k) { return FLAG_LABEL[k]; }).join(" · ") + "</span>" +
            "<span>hover a fix: its time, when and how it reached the server</span>";
          return box;
        },
      });
      return new Ctl();
    },

    _makeControl: function () {
      var self = this;
      var Ctl = L.Control.extend({
        options: { position: "bottomleft" },
        onAdd: function () {
          var box = L.DomUtil.create("div", "fm-track-control leaflet-bar");
          L.DomEvent.disableClickPropagation(box);
          L.DomEvent.disableScrollPropagation(box);
          self.button = L.DomUtil.create("button", "fm-play", box);
          self.button.textContent = "▶";
          self.button.title = "Play";
          self.button.setAttribute("aria-label", "Play or pause the track");
          self.button.onclick = function () { if (self.timer) self.pause(); else self.play(); };
          self.slider = L.DomUtil.create("input", "fm-slider", box);
          self.slider.type = "range";
          self.slider.min = "0";
          self.slider.max = String(Math.round((self.t1 - self.t0) / 1000));
          self.slider.setAttribute("aria-label", "Track time");
          self.slider.oninput = function () { self.seek(self.t0 + Number(self.slider.value) * 1000); };
          var speed = L.DomUtil.create("select", "fm-speed", box);
          self.speedSelect = speed;
          speed.setAttribute("aria-label", "Playback speed");
          [[60, "1 min/s"], [600, "10 min/s"], [3600, "1 h/s"], [14400, "4 h/s"]].forEach(function (o) {
            var opt = L.DomUtil.create("option", "", speed);
            opt.value = String(o[0]);
            opt.textContent = o[1];
            if (o[0] === self.speed) opt.selected = true;
          });
          speed.onchange = function () { self.speed = Number(speed.value); };
          self.label = L.DomUtil.create("span", "fm-time", box);
          return box;
        },
      });
      return new Ctl();
    },

    clear: function (map) {
      this.pause();
      if (this.group) map.removeLayer(this.group);
      if (this.control) map.removeControl(this.control);
      if (this.legend) map.removeControl(this.legend);
      this.group = this.control = this.legend = this.slider = this.button = null;
      this.points = [];
      this.markers = [];
    },
  };

  // ------------------------------------------------------------------ the day's route

  // The officer's drive: a line from the office through the stops ahead, each stop a numbered badge
  // (a late one in the incident colour). Drawn under the device markers' pane.
  var Route = {
    group: null,
    count: 0,
    show: function (map, data) {
      this.clear(map);
      this.count = data.stops.length;
      this.group = L.featureGroup().addTo(map);
      if (data.path.length > 1) {
        L.polyline(data.path, { color: "#0b57d0", weight: 4, opacity: 0.75, dashArray: "8 6" }).addTo(this.group);
      }
      var group = this.group;
      data.stops.forEach(function (s) {
        var late = s.late ? " fm-route-late" : "";
        L.marker([s.lat, s.lon], {
          icon: L.divIcon({ className: "fm-route-stop" + late, html: String(s.order), iconSize: [22, 22] }),
          title: s.label, keyboard: false,
        }).bindTooltip(escapeHtml(s.label)).addTo(group);
      });
    },
    clear: function (map) {
      if (this.group) map.removeLayer(this.group);
      this.group = null;
      this.count = 0;
    },
  };

  // ------------------------------------------------------------------ legend

  // position flags (workstation.protocol.PositionFlag) in words
  var FLAG_LABEL = {
    late: "late (sent after a newer fix)",
    invalid: "invalid (the device said so)",
    mock: "mock location",
    drift: "drift (accuracy crosses a zone edge)",
    impossible_speed: "impossible speed",
  };

  function viaLabel(via) {
    if (!via) return "";
    if (via === "osmand") return "the device's own key";
    if (via.indexOf("gateway:") === 0) return "gateway " + via.slice(8);
    return via;
  }

  function fixTooltip(p, flagged) {
    var lines = [new Date(p.ms).toLocaleString() + (p.acc ? " · ±" + Math.round(p.acc) + " m" : "")];
    if (p.received) {
      lines.push("received " + new Date(Date.parse(p.received)).toLocaleString() +
        (p.via ? " via " + escapeHtml(viaLabel(p.via)) : ""));
    } else if (p.via) {
      lines.push("via " + escapeHtml(viaLabel(p.via)));
    }
    if (flagged) {
      lines.push("<b>flagged: " + p.flags.map(function (f) { return escapeHtml(FLAG_LABEL[f] || f); }).join(", ") +
        "</b> (not trusted)");
    }
    return lines.join("<br>");
  }

  var Legend = L.Control.extend({
    options: { position: "topright" },
    onAdd: function () {
      var box = L.DomUtil.create("div", "fm-legend");
      box.setAttribute("role", "note");
      // the legend draws the same shapes as the markers (a small canvas each)
      var entries = [["ok", false, "OK"], ["incident", false, "Incident open"], ["no_fix", false, "No GPS fix"],
                     ["ok", true, STALE_LABEL]];
      entries.forEach(function (e) {
        var item = L.DomUtil.create("span", "", box);
        var c = L.DomUtil.create("canvas", "fm-legend-mark", item);
        c.width = c.height = 18;
        var ctx = c.getContext("2d");
        var s = STATE_STYLE[e[0]];
        ctx.beginPath();
        shapePath(ctx, s.shape, 9, 9.5, 6.5);
        if (e[1]) {
          ctx.fillStyle = "#ffffff";
          ctx.fill();
          ctx.setLineDash([3, 2]);
          ctx.lineWidth = 2.5;
          ctx.strokeStyle = s.fill;
        } else {
          ctx.fillStyle = s.fill;
          ctx.fill();
          ctx.lineWidth = 1.5;
          ctx.strokeStyle = e[0] === "ok" ? "#555" : s.stroke;
        }
        ctx.stroke();
        item.appendChild(document.createTextNode(e[2]));
      });
      return box;
    },
  });

  // ------------------------------------------------------------------ zones that cannot be drawn

  // A zone with a broken boundary is listed for the officer, never silently left off the map.
  var ZoneNotice = {
    box: null,
    show: function (map, undrawable) {
      if (!this.box) {
        var Control = L.Control.extend({
          options: { position: "bottomleft" },
          onAdd: function () { return L.DomUtil.create("div", "fm-zone-notice"); },
        });
        this.control = new Control().addTo(map);
        this.box = this.control.getContainer();
        this.box.setAttribute("role", "alert");
      }
      this.box.textContent = "";
      this.box.style.display = undrawable.length ? "" : "none";
      if (!undrawable.length) return;
      var title = document.createElement("b");
      title.textContent = undrawable.length === 1 ? "1 zone cannot be drawn:" : undrawable.length + " zones cannot be drawn:";
      this.box.appendChild(title);
      undrawable.forEach(function (z) {
        var line = document.createElement("div");
        line.textContent = z.name + " (" + z.reason + ")";
        this.box.appendChild(line);
      }, this);
    },
    count: function () {
      return this.box && this.box.style.display !== "none" ? this.box.querySelectorAll("div").length : 0;
    },
  };

  // ------------------------------------------------------------------ vector basemap (vector MBTiles)

  // Offline vector packages (OpenMapTiles schema) drawn by Leaflet.VectorGrid on canvas tiles from
  // fieldmap://app/vtiles/. Beyond the package's last zoom (z14 for OpenMapTiles) the parent tile is
  // drawn scaled as vectors, so streets stay sharp at officer zooms; street and place names are drawn
  // on the tile canvas with the system font (VectorGrid draws no text).
  var LAND = "#f2efe9";
  var ROAD_COLOR = { motorway: "#e990a0", trunk: "#f9b29c", primary: "#fcd6a4", secondary: "#f7fabf" };
  function roadWidth(cls, z) {
    var base = cls === "motorway" || cls === "trunk" ? 2.4 : cls === "primary" ? 2.2 : cls === "secondary" ? 1.9 :
      cls === "tertiary" ? 1.6 : cls === "minor" ? 1.1 : cls === "service" ? 0.6 : 0.5;
    return Math.max(0.5, base * Math.pow(1.55, z - 13));
  }
  function area(color) { return { fill: true, fillColor: color, fillOpacity: 1, stroke: false, weight: 0 }; }
  var VECTOR_STYLE = {
    landuse: area("#ece8e0"), landcover: area("#d5ecc4"), park: area("#c8e6b4"), water: area("#aad3df"),
    waterway: function (p, z) { return { color: "#aad3df", weight: Math.max(1, z - 12), fill: false }; },
    building: function (p, z) { return z < 14 ? [] : { fill: true, fillColor: "#d9d0c9", fillOpacity: 1, color: "#c9bcb1", weight: 0.5 }; },
    transportation: function (p, z) {
      var cls = p["class"];
      if (cls === "rail") return { color: "#9a9a9a", weight: 1.2, dashArray: "4 3", fill: false };
      if (cls === "path" || cls === "track") return z < 15 ? [] : { color: "#d08f7a", weight: 1, dashArray: "2 2", fill: false };
      if ((cls === "service" && z < 15) || (cls === "minor" && z < 13)) return [];
      var w = roadWidth(cls, z);
      // casing underneath, fill on top: readable streets on light land colours
      return [{ color: "#b5aca3", weight: w + 1.6, fill: false, lineCap: "round" },
              { color: ROAD_COLOR[cls] || "#ffffff", weight: w, fill: false, lineCap: "round" }];
    },
    transportation_name: [], place: [], poi: [], housenumber: [], aeroway: [], boundary: [],
    mountain_peak: [], water_name: [], aerodrome_label: [], landuse_overlay: [],
  };

  function bbox(f) {
    if (!f._bbox) {
      var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      f.geometry.forEach(function (ring) {
        ring.forEach(function (p) {
          if (p.x < x0) x0 = p.x;
          if (p.x > x1) x1 = p.x;
          if (p.y < y0) y0 = p.y;
          if (p.y > y1) y1 = p.y;
        });
      });
      f._bbox = [x0, y0, x1, y1];
    }
    return f._bbox;
  }

  function childTile(tile, n, ox, oy) {
    // the part of a parent tile that covers one child: extents shrink, coordinates shift; a feature is
    // kept when its bounding box (computed once per parent) reaches the child, the canvas clips the rest
    var out = { layers: {} };
    for (var name in tile.layers) {
      var layer = tile.layers[name], ext = layer.extent / n, dx = ox * ext, dy = oy * ext, margin = ext / 8;
      var feats = [];
      for (var i = 0; i < layer.features.length; i++) {
        var f = layer.features[i], b = bbox(f);
        if (b[2] < dx - margin || b[0] > dx + ext + margin || b[3] < dy - margin || b[1] > dy + ext + margin) continue;
        var geom = f.geometry.map(function (ring) {
          return ring.map(function (p) { return { x: p.x - dx, y: p.y - dy }; });
        });
        feats.push({ type: f.type, properties: f.properties, geometry: geom });
      }
      out.layers[name] = { extent: ext, features: feats, length: feats.length };
    }
    return out;
  }

  // the part of segment a-b inside the square [lo, hi]² (Liang-Barsky), or null
  function clipSegment(ax, ay, bx, by, lo, hi) {
    var t0 = 0, t1 = 1, dx = bx - ax, dy = by - ay;
    var edges = [[-dx, ax - lo], [dx, hi - ax], [-dy, ay - lo], [dy, hi - ay]];
    for (var i = 0; i < 4; i++) {
      var p = edges[i][0], q = edges[i][1];
      if (p === 0) { if (q < 0) return null; continue; }
      var r = q / p;
      if (p < 0) { if (r > t1) return null; if (r > t0) t0 = r; } else { if (r < t0) return null; if (r < t1) t1 = r; }
    }
    return [ax + t0 * dx, ay + t0 * dy, ax + t1 * dx, ay + t1 * dy];
  }

  function drawLabels(ctx, tile, z, size) {
    if (!ctx || z < 14) return;
    var placed = [];
    var free = function (b) {
      if (b.x0 < 2 || b.y0 < 2 || b.x1 > size - 2 || b.y1 > size - 2) return false;
      for (var i = 0; i < placed.length; i++) {
        var o = placed[i];
        if (b.x0 < o.x1 && b.x1 > o.x0 && b.y0 < o.y1 && b.y1 > o.y0) return false;
      }
      placed.push(b);
      return true;
    };
    var text = function (label, x, y, angle, font) {
      ctx.save();
      ctx.translate(x, y);
      ctx.rotate(angle);
      ctx.font = font;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.lineWidth = 3;
      ctx.strokeStyle = "rgba(255,255,255,0.9)";
      ctx.strokeText(label, 0, 0);
      ctx.fillStyle = "#333";
      ctx.fillText(label, 0, 0);
      ctx.restore();
    };
    var names = tile.layers.transportation_name;
    if (names && z >= 15) {
      var scale = size / names.extent;
      ctx.font = "11px sans-serif";
      names.features.forEach(function (f) {
        var label = f.properties.name;
        if (!label || f.type !== 2) return;
        var w = ctx.measureText(label).width + 6, best = null;
        f.geometry.forEach(function (ring) {
          for (var i = 1; i < ring.length; i++) {
            var seg = clipSegment(ring[i - 1].x * scale, ring[i - 1].y * scale, ring[i].x * scale, ring[i].y * scale, 6, size - 6);
            if (!seg) continue;
            var ax = seg[0], ay = seg[1], bx = seg[2], by = seg[3];
            var len = Math.sqrt((bx - ax) * (bx - ax) + (by - ay) * (by - ay));
            if (len > w && (!best || len > best.len)) best = { ax: ax, ay: ay, bx: bx, by: by, len: len };
          }
        });
        if (!best) return;
        var angle = Math.atan2(best.by - best.ay, best.bx - best.ax);
        if (angle > Math.PI / 2) angle -= Math.PI; else if (angle < -Math.PI / 2) angle += Math.PI;
        var mx = (best.ax + best.bx) / 2, my = (best.ay + best.by) / 2, r = w / 2 + 2;
        if (free({ x0: mx - r, y0: my - r * Math.abs(Math.sin(angle)) - 7, x1: mx + r, y1: my + r * Math.abs(Math.sin(angle)) + 7 })) {
          text(label, mx, my, angle, "11px sans-serif");
        }
      });
    }
    var places = tile.layers.place;
    if (places) {
      var ps = size / places.extent;
      places.features.forEach(function (f) {
        var label = f.properties.name, pt = f.geometry[0] && f.geometry[0][0];
        if (!label || !pt) return;
        ctx.font = "bold 12px sans-serif";
        var half = ctx.measureText(label).width / 2 + 3, x = pt.x * ps, y = pt.y * ps;
        if (free({ x0: x - half, y0: y - 9, x1: x + half, y1: y + 9 })) text(label, x, y, 0, "bold 12px sans-serif");
      });
    }
  }

  var VectorBasemap = L.VectorGrid.Protobuf ? L.VectorGrid.Protobuf.extend({
    _getVectorTilePromise: function (coords) {
      var dz = coords.z - this.options.nativeMaxZoom, proto = L.VectorGrid.Protobuf.prototype, p;
      if (dz <= 0) {
        p = proto._getVectorTilePromise.call(this, coords);
      } else {
        var n = 1 << dz, parent = L.point(coords.x >> dz, coords.y >> dz);
        parent.z = this.options.nativeMaxZoom;
        var key = parent.z + "/" + parent.x + "/" + parent.y;
        this._parents = this._parents || {};
        if (!this._parents[key]) this._parents[key] = proto._getVectorTilePromise.call(this, parent);
        p = this._parents[key].then(function (tile) { return childTile(tile, n, coords.x - parent.x * n, coords.y - parent.y * n); });
      }
      this._lastPromise = p;
      return p;
    },
    createTile: function (coords, done) {
      var tile = L.VectorGrid.Protobuf.prototype.createTile.call(this, coords, done);
      var renderer = this._lastRenderer, size = this.getTileSize().x, self = this;
      tile.style.background = LAND;
      this._lastPromise.then(function (vt) {
        drawLabels(renderer._ctx, vt, coords.z, size);
        self._drawn = (self._drawn || 0) + 1;
      });
      return tile;
    },
  }) : null;

  // ------------------------------------------------------------------ public API

  var FieldMap = {
    map: null,
    devices: null,
    zones: null,

    init: function (map) {
      this.map = map;
      this.devices = new DeviceLayer().addTo(map);
      this.zones = L.featureGroup().addTo(map);
      new Legend().addTo(map);
      var announce = function () {
        var b = map.getBounds();
        send({
          type: "viewChanged",
          bounds: [b.getSouth(), b.getWest(), b.getNorth(), b.getEast()],
          zoom: map.getZoom(),
        });
      };
      map.on("moveend", announce);
      window.addEventListener("error", function (e) {
        send({ type: "error", message: String(e.message) + " @" + e.lineno });
      });
      var connect = function () {
        if (typeof qt === "undefined" || typeof QWebChannel === "undefined") return false;
        new QWebChannel(qt.webChannelTransport, function (channel) {
          bridge = channel.objects.bridge;
          send({ type: "ready", leaflet: L.version });
          announce();
        });
        return true;
      };
      connect();
    },

    setDevices: function (list) {
      var t = performance.now();
      this.devices.setAll(list);
      return performance.now() - t;
    },
    updateDevices: function (list) {
      var t = performance.now();
      this.devices.update(list);
      return performance.now() - t;
    },
    select: function (pid) { return this.devices.select(pid); },
    // the dark palette darkens the basemap too (a bright map in a dark window dazzles at night)
    setDark: function (dark) {
      this.map.getContainer().classList.toggle("fm-dark", !!dark);
      return !!dark;
    },
    // options: {minZoom, maxNativeZoom} of the vector packages (maps/view.py, when the tile store has any)
    setVectorLayer: function (options) {
      if (!VectorBasemap || this.vector) return false;
      var self = this;
      this.vector = new VectorBasemap("fieldmap://app/vtiles/{z}/{x}/{y}.pbf", {
        rendererFactory: function (coords, size, opts) { return (self.vector._lastRenderer = L.canvas.tile(coords, size, opts)); },
        vectorTileLayerStyles: VECTOR_STYLE,
        nativeMaxZoom: options.maxNativeZoom,
        minZoom: options.minZoom,
        maxZoom: this.map.getMaxZoom(),
        zIndex: 0, // under the image layer, which is transparent where a vector package has priority
        interactive: false,
        attribution: "",
      });
      this.vector.addTo(this.map);
      return true;
    },
    showZones: function (zones, undrawable) {
      drawZones(this.zones, zones);
      ZoneNotice.show(this.map, undrawable || []);
      return zones.length;
    },
    showTrack: function (data) { Track.show(this.map, data); return Track.points.length; },
    clearTrack: function () { Track.clear(this.map); },
    showRoute: function (data) { Route.show(this.map, data); return data.stops.length; },
    clearRoute: function () { Route.clear(this.map); },
    playTrack: function (speed) {
      if (speed) {
        Track.speed = speed;
        if (Track.speedSelect) Track.speedSelect.value = String(speed);
      }
      Track.play();
    },
    seekTrackFraction: function (f) { Track.seek(Track.t0 + (Track.t1 - Track.t0) * f); },
    // JSON text: runJavaScript hands plain strings back to Python reliably
    status: function () {
      return JSON.stringify({
        leaflet: typeof L !== "undefined" ? L.version : null,
        map: !!this.map,
        devices: this.devices ? this.devices.count() : 0,
        devicesInView: this.devices ? this.devices._inView : 0,
        zones: this.zones ? this.zones.getLayers().length : 0,
        undrawableZones: ZoneNotice.count(),
        vectorTilesDrawn: this.vector ? this.vector._drawn || 0 : 0,
        trackPoints: Track.points.length,
        routeStops: Route.count,
        zoom: this.map ? this.map.getZoom() : null,
        trackTime: Track.points.length ? new Date(Track.now).toISOString() : null,
      });
    },
  };
  window.FieldMap = FieldMap;
})();
