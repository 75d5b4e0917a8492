#!/usr/bin/env bash
# Smoke test of the built package: bash installer/test_deb.sh [path/to.deb]   (or: make installer-test)
#
# 1. The package's dependencies resolve on this system (installed here if missing, as
#    `apt install ./x.deb` would do), and the .deb is extracted into a throwaway root.
# 2. The frozen `selftest --json` runs offscreen with networking blocked (a new network
#    namespace: no interface but a down loopback): encrypted store + map page from the bundle.
# 3. The same after moving the app directory elsewhere: QtWebEngineProcess must still be found
#    (the relocation regression an updater can cause, tufup #145).
# 4. The frozen GUI under Xvfb (the real xcb platform plugin and its dependencies): time from
#    process start to a visible window.
# 5. The frozen app with `--demo --screenshot`, loopback only (it starts the frozen server mode
#    as a child process): the PNG must be a real picture of reasonable size.
# Timings are printed and written to build/installer/test_deb.json.
#
# QTWEBENGINE_DISABLE_SANDBOX=1 is set because CI runs as root, where Chromium refuses its
# sandbox; installed for a normal user, the app keeps the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
APP=field-workstation
DEB=${1:-$(ls -t dist/${APP}_*.deb 2>/dev/null | head -1)}
[ -n "$DEB" ] && [ -f "$DEB" ] || { echo "test_deb: no dist/${APP}_*.deb; run make installer" >&2; exit 1; }
PYBIN=$ROOT/.venv/bin/python
WORK=$(mktemp -d /tmp/fw-deb-test.XXXXXX)
APP_PID=""
cleanup() {
  if [ -n "$APP_PID" ] && kill -0 "$APP_PID" 2>/dev/null; then kill "$APP_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
now() { date +%s.%N; }
secs() { "$PYBIN" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
log() { echo "test_deb: $*"; }
fail() { echo "test_deb: FAIL: $*" >&2; exit 1; }
export QT_QPA_PLATFORM=offscreen QTWEBENGINE_DISABLE_SANDBOX=1 WORKSTATION_PASSWORD=smoke-test-password
unset WORKSTATION_SERVER_URL WORKSTATION_TILE_URL

# Network isolation: a fresh network namespace (root or user namespaces needed). `lo up` gives the
# demo its loopback; the selftest runs with no usable interface at all.
if unshare -n true 2>/dev/null; then
  offline() { unshare -n -- "$@"; }
  loopback_only() { unshare -n -- sh -c 'ip link set lo up && exec "$@"' sh "$@"; }
  ISOLATION="network namespace"
elif unshare -rn true 2>/dev/null; then
  offline() { unshare -rn -- "$@"; }
  loopback_only() { unshare -rn -- sh -c 'ip link set lo up && exec "$@"' sh "$@"; }
  ISOLATION="user+network namespace"
else
  fail "cannot create a network namespace here (unshare -n); the offline checks would prove nothing"
fi

# --- 1. Dependencies and extraction ------------------------------------------------------------
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
PLAN=$(apt-get satisfy -s "$DEPENDS" 2>&1) || fail "the package's Depends cannot be resolved here: $PLAN"
if grep -q '^Inst' <<<"$PLAN"; then
  log "installing missing dependencies: $(grep '^Inst' <<<"$PLAN" | awk '{print $2}' | tr '\n' ' ')"
  DEBIAN_FRONTEND=noninteractive apt-get satisfy -y -qq "$DEPENDS" >/dev/null
else
  log "dependencies already satisfied"
fi
T=$(now)
dpkg-deb -x "$DEB" "$WORK/root"
log "extracted $(basename "$DEB") in $(secs "$T" "$(now)") s"
LAUNCHER_TARGET=$(sed -n 's/^exec \([^ ]*\) .*/\1/p' "$WORK/root/usr/bin/$APP")
[ -x "$WORK/root$LAUNCHER_TARGET" ] || fail "/usr/bin/$APP runs $LAUNCHER_TARGET, which the package does not contain"
FROZEN=$WORK/root$LAUNCHER_TARGET
INSTALLED_KB=$(du -sk "$WORK/root" | cut -f1)
DEB_BYTES=$(stat -c %s "$DEB")

# --- 2. Frozen selftest, networking blocked ----------------------------------------------------
selftest() {  # selftest BINARY HOME -> prints seconds; the JSON report goes to HOME.json
  local binary=$1 home=$2 t0 rc=0
  mkdir -p "$home"
  t0=$(now)
  WORKSTATION_HOME=$home offline "$binary" selftest --json >"$home.json" 2>"$home.err" || rc=$?
  local t1; t1=$(now)
  if [ "$rc" != 0 ]; then cat "$home.json" "$home.err" >&2; fail "frozen selftest exited $rc"; fi
  "$PYBIN" - "$home.json" <<'PY' || { cat "$home.err" >&2; fail "selftest report is not ok"; }
import json, sys
report = json.load(open(sys.argv[1]))
if not report.get("ok"):
    raise SystemExit(f"selftest not ok: {report}")
PY
  secs "$t0" "$t1"
}
SELFTEST_S=$(selftest "$FROZEN" "$WORK/home-selftest")
log "frozen selftest (offline, $ISOLATION): ok in ${SELFTEST_S} s"
SELFTEST_AGAIN_S=$(selftest "$FROZEN" "$WORK/home-selftest")
log "frozen selftest, second run (existing store): ok in ${SELFTEST_AGAIN_S} s"
CHECKS=$("$PYBIN" -c "import json,sys; r=json.load(open(sys.argv[1])); print(', '.join(c['name'] for c in r['checks']))" "$WORK/home-selftest.json")
case ",$CHECKS," in *map_page*) ;; *) fail "the frozen selftest did not check the map page (checks: $CHECKS)" ;; esac
MAP_PAGE_S=$("$PYBIN" -c "import json,sys; r=json.load(open(sys.argv[1])); print(next(c for c in r['checks'] if c['name'] == 'map_page').get('data', {}).get('seconds', 'null'))" "$WORK/home-selftest.json")
log "of which the map page (QtWebEngine, bundled Leaflet + basemap): ${MAP_PAGE_S} s"
log "selftest checks: ${CHECKS:-?}"

# --- 3. Relocated bundle (tufup #145) ----------------------------------------------------------
mkdir -p "$WORK/relocated"
mv "$(dirname "$FROZEN")" "$WORK/relocated/$APP-moved"
RELOCATED_S=$(selftest "$WORK/relocated/$APP-moved/$APP" "$WORK/home-relocated")
mv "$WORK/relocated/$APP-moved" "$(dirname "$FROZEN")"
log "frozen selftest after moving the app directory: ok in ${RELOCATED_S} s"

# --- 4. Cold start to a visible window under Xvfb ----------------------------------------------
command -v xvfb-run >/dev/null && command -v xdotool >/dev/null || fail "xvfb-run and xdotool are needed (make installer installs them)"
# The probe runs inside xvfb-run as its own script: xvfb-run is a POSIX sh script, and dash drops
# exported bash functions from the environment.
cat >"$WORK/window_probe.sh" <<'PROBE'
#!/usr/bin/env bash
# window_probe.sh HOME BINARY: start the app, wait for its first visible window, print the times.
t0=$(date +%s.%N)
QT_QPA_PLATFORM=xcb WORKSTATION_HOME=$1 "$2" >"$1.log" 2>&1 &
pid=$!
if timeout 60 xdotool search --sync --onlyvisible --pid "$pid" >/dev/null 2>&1; then
  echo "window $(date +%s.%N) $t0"
else
  echo "nowindow"
fi
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
PROBE
chmod +x "$WORK/window_probe.sh"
mkdir -p "$WORK/home-gui"
read -r W_STATUS W_END W_START < <(offline xvfb-run -a -s "-screen 0 1600x1000x24" "$WORK/window_probe.sh" "$WORK/home-gui" "$FROZEN")
[ "$W_STATUS" = window ] || { cat "$WORK/home-gui.log" >&2; fail "the frozen app showed no window within 60 s"; }
START_S=$(secs "$W_START" "$W_END")
log "frozen start to visible window (Xvfb, first run, offline): ${START_S} s"

# --- 5. Demo with screenshot, loopback only ----------------------------------------------------
mkdir -p "$WORK/home-demo"
T=$(now)
WORKSTATION_HOME=$WORK/home-demo loopback_only timeout 180 "$FROZEN" --demo --screenshot "$WORK/demo.png" \
  >"$WORK/demo.log" 2>&1 || { tail -30 "$WORK/demo.log" >&2; fail "frozen --demo --screenshot failed"; }
DEMO_S=$(secs "$T" "$(now)")
"$PYBIN" - "$WORK/demo.png" <<'PY' || fail "the demo screenshot is not a real picture"
import sys
from PIL import Image
path = sys.argv[1]
with Image.open(path) as image:
    image.load()
    width, height = image.size
    colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
distinct = len(colours) if colours is not None else 1_000_000
if width < 800 or height < 500:
    raise SystemExit(f"{path}: {width}x{height} is too small for the main window")
if distinct < 50:
    raise SystemExit(f"{path}: only {distinct} colours; a blank or failed render")
print(f"test_deb: demo screenshot {width}x{height}, {distinct} colours")
PY
mkdir -p build/installer
cp "$WORK/demo.png" build/installer/demo-screenshot.png
log "frozen --demo --screenshot: ok in ${DEMO_S} s (copy: build/installer/demo-screenshot.png)"

cat >build/installer/test_deb.json <<EOF
{"deb": "$(basename "$DEB")", "deb_bytes": $DEB_BYTES, "installed_kib": $INSTALLED_KB,
 "selftest_s": $SELFTEST_S, "selftest_map_page_s": $MAP_PAGE_S, "selftest_second_run_s": $SELFTEST_AGAIN_S, "selftest_relocated_s": $RELOCATED_S,
 "start_to_window_s": $START_S, "demo_screenshot_s": $DEMO_S}
EOF
log "sizes: .deb $DEB_BYTES bytes, installed $INSTALLED_KB KiB"
log "passed ($(tr -d '\n' <build/installer/test_deb.json))"
