#!/usr/bin/env bash
# Build dist/field-workstation_<version>_amd64.deb on Debian/Ubuntu (amd64, glibc >= 2.34).
#
#   bash installer/build_deb.sh          (or: make installer)
#
# Steps: install what the build needs (idempotent), freeze the app with PyInstaller (onedir),
# stage the Debian tree (/opt app dir, /usr/bin launcher, desktop file, icons, AppStream
# metainfo, example system config as a conffile), compute Depends with dpkg-shlibdeps, pack with
# dpkg-deb, check with lintian (errors fail the build), print sizes and times.
# Environment: PY (python for a missing venv, default python3); SKIP_LINTIAN=1 skips lintian
# (it takes minutes on a package this size); DEB_COMPRESS=xz (default: smallest, readable by every
# dpkg, accepted by lintian) or zstd (much faster to build and larger; dpkg >= 1.21.18 reads it, but
# Debian's archive and lintian do not accept it: for local iteration only).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
BUILD=$ROOT/build/installer
DIST=$ROOT/dist
APP=field-workstation
APP_ID=org.fieldworkstation.FieldWorkstation
T0=$(date +%s.%N)
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(date +%s.%N)"; }
log() { echo "build_deb: $*"; }

# --- 1. Build tools (each installed only when missing) -----------------------------------------
# dpkg-shlibdeps must resolve every system library the bundle links to, so the X11/xcb libraries
# the Qt platform plugins need are installed here too (they become package dependencies).
declare -A NEED=(
  [dpkg-shlibdeps]=dpkg-dev [lintian]=lintian [desktop-file-validate]=desktop-file-utils
  [appstreamcli]=appstream [xvfb-run]=xvfb [xdotool]=xdotool [file]=file [patchelf]=patchelf
  [zstd]=zstd [strip]=binutils
)
missing=()
for tool in "${!NEED[@]}"; do command -v "$tool" >/dev/null 2>&1 || missing+=("${NEED[$tool]}"); done
for lib in libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0 libxcb-render-util0 \
  libxcb-xkb1 libxkbcommon-x11-0 libnss3 libasound2 libxkbfile1 libegl1 libgl1 libfontconfig1 \
  libdbus-1-3 libxcomposite1 libxdamage1 libxrandr2 libxtst6 libcups2 libwayland-client0 \
  libwayland-cursor0 libwayland-egl1; do
  dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q "ok installed" || missing+=("$lib")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
test -x "$BIN/python" || "${PY:-python3}" -m venv .venv
"$BIN/python" -c "import PyInstaller, PySide6.QtWebEngineWidgets" 2>/dev/null \
  || "$BIN/python" -m pip install -q -e '.[installer]'

VERSION=$("$BIN/python" -c "import tomllib; print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])")
ARCH=$(dpkg --print-architecture)
DEB=$DIST/${APP}_${VERSION}_${ARCH}.deb
log "version $VERSION ($ARCH)"

# The bundled map assets and demo basemap must exist before freezing. `make installer` builds them
# first (its `setup` prerequisite runs `make assets`); this script never starts a second
# asset build of its own, which could race one already running in the same tree.
for asset in maps/assets/vendor/leaflet/leaflet.js maps/assets/basemap/chicago.mbtiles; do
  [ -f "$asset" ] || { log "missing $asset: run 'make assets' (or 'make installer') first"; exit 1; }
done

# --- 2. Freeze ---------------------------------------------------------------------------------
rm -rf "$BUILD" && mkdir -p "$BUILD" "$DIST"
"$BIN/python" installer/render_icons.py "$BUILD/icons" >/dev/null
T1=$(date +%s.%N)
FW_USE_SYSTEM_LIBS=1 "$BIN/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$BUILD/pyinstaller-dist" --workpath "$BUILD/pyinstaller-work" \
  installer/field-workstation.spec >"$BUILD/pyinstaller.log" 2>&1 \
  || { tail -40 "$BUILD/pyinstaller.log"; exit 1; }
FROZEN=$BUILD/pyinstaller-dist/$APP
log "PyInstaller: $(elapsed "$T1") s, $(du -sh "$FROZEN" | cut -f1)"
"$BIN/python" - "$FROZEN/_internal" <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, "installer")
import bundle_manifest
missing = bundle_manifest.missing_required_files(Path(sys.argv[1]))
if missing:
    raise SystemExit("build_deb: the bundle lacks QtWebEngine pieces: " + ", ".join(missing))
PY

# --- 3. Stage the package tree -----------------------------------------------------------------
PKG=$BUILD/root
install -d "$PKG/opt" "$PKG/usr/bin" "$PKG/usr/share/applications" "$PKG/usr/share/metainfo" \
  "$PKG/usr/share/doc/$APP" "$PKG/usr/share/lintian/overrides" "$PKG/etc/$APP" "$PKG/DEBIAN"
cp -a "$FROZEN" "$PKG/opt/$APP"
install -m 0755 installer/linux/field-workstation "$PKG/usr/bin/$APP"
install -m 0644 installer/linux/$APP_ID.desktop "$PKG/usr/share/applications/"
install -m 0644 installer/linux/$APP_ID.metainfo.xml "$PKG/usr/share/metainfo/"
install -m 0644 installer/linux/config.toml "$PKG/etc/$APP/config.toml"
install -m 0644 installer/linux/copyright "$PKG/usr/share/doc/$APP/copyright"
install -m 0644 installer/linux/lintian-overrides "$PKG/usr/share/lintian/overrides/$APP"
install -D -m 0644 installer/linux/field-workstation.svg "$PKG/usr/share/icons/hicolor/scalable/apps/$APP_ID.svg"
for size in 16 32 48 64 128 256 512; do
  install -D -m 0644 "$BUILD/icons/field-workstation-$size.png" \
    "$PKG/usr/share/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done
# A native package's changelog (Debian policy 12.7), generated from the version being built.
{
  echo "$APP ($VERSION) stable; urgency=medium"
  echo
  echo "  * Release $VERSION. Release notes: docs/updates.md and the project history."
  echo
  echo " -- Field Workstation project <packaging@field-workstation.invalid>  $(LC_ALL=C date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n >"$PKG/usr/share/doc/$APP/changelog.gz"
# Files straight from wheels can be group-writable or lack read bits; packages ship 0644/0755,
# and shared libraries are not executables.
find "$PKG" -type d -exec chmod 0755 {} +
find "$PKG/opt" -type f -exec chmod u+rw,go+r,go-w {} +
find "$PKG/opt" -type f \( -name '*.so' -o -name '*.so.*' \) -exec chmod 0644 {} +
# Symbol tables: the Python build and several wheels (sqlcipher3, zstandard, cryptography) ship
# unstripped libraries. Strip those, but never a library auditwheel rewrote with patchelf (vendored
# in a *.libs directory, or given an $ORIGIN search path): binutils' strip corrupts their layout.
T_STRIP=$(date +%s.%N)
BEFORE_STRIP_KB=$(du -sk "$PKG/opt" | cut -f1)
while IFS= read -r -d '' lib; do
  case "$lib" in */*.libs/*) continue ;; esac
  file -b "$lib" | grep -q 'ELF.*not stripped' || continue
  patchelf --print-rpath "$lib" 2>/dev/null | grep -q 'ORIGIN' && continue
  strip --strip-unneeded "$lib"
done < <(find "$PKG/opt" -type f \( -name '*.so' -o -name '*.so.*' \) -print0)
log "strip: $((BEFORE_STRIP_KB - $(du -sk "$PKG/opt" | cut -f1))) KiB saved in $(elapsed "$T_STRIP") s"
# Library search paths baked in on the build machine (the Python build's own prefix, a wheel's
# /usr/local/lib64) would make the installed app look for libraries in directories it does not
# own. Only $ORIGIN-relative entries, which stay inside the bundle, are kept.
while IFS= read -r -d '' elf; do
  rpath=$(patchelf --print-rpath "$elf" 2>/dev/null) || continue
  [ -n "$rpath" ] || continue
  kept=$(tr ':' '\n' <<<"$rpath" | grep '^\$ORIGIN' | paste -sd: || true)
  [ "$kept" = "$rpath" ] && continue
  if [ -n "$kept" ]; then patchelf --set-rpath "$kept" "$elf"; else patchelf --remove-rpath "$elf"; fi
done < <(find "$PKG/opt" -type f -name '*.so*' -print0)

desktop-file-validate "$PKG/usr/share/applications/$APP_ID.desktop"
appstreamcli validate --no-net --no-color "$PKG/usr/share/metainfo/$APP_ID.metainfo.xml" >/dev/null

# --- 4. Dependencies on the distribution's libraries -------------------------------------------
T2=$(date +%s.%N)
mapfile -t ELFS < <(find "$PKG/opt" -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) \
  -exec file -N -F '|' {} + | awk -F'|' '$2 ~ /ELF/ {print $1}')
LIBDIRS=()
while IFS= read -r dir; do LIBDIRS+=("-l$dir"); done < <(printf '%s\n' "${ELFS[@]}" | xargs -n1 dirname | sort -u)
mkdir -p "$BUILD/shlibdeps/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$APP" "$APP" >"$BUILD/shlibdeps/debian/control"
SHLIBS=$(cd "$BUILD/shlibdeps" && dpkg-shlibdeps -O --ignore-missing-info "${LIBDIRS[@]}" \
  "${ELFS[@]/#/-e}" 2>"$BUILD/shlibdeps.log" | sed -n 's/^shlibs:Depends=//p') \
  || { grep -v warning "$BUILD/shlibdeps.log" | head -20; exit 1; }
# dlopen()ed at run time, so no ELF names them: the xcb cursor library (Qt >= 6.5 xcb plugin)
# and the certificate store Chromium's NSS reads.
DEPENDS="$SHLIBS, libxcb-cursor0, ca-certificates"
log "dpkg-shlibdeps: $(elapsed "$T2") s"

INSTALLED_KB=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
cat >"$PKG/DEBIAN/control" <<EOF
Package: $APP
Version: $VERSION
Section: misc
Priority: optional
Architecture: $ARCH
Maintainer: Field Workstation project <packaging@field-workstation.invalid>
Installed-Size: $INSTALLED_KB
Depends: $DEPENDS
Description: offline-first caseload, map and alerts for field officers
 Field Workstation shows a supervision officer their caseload, the last
 reported position of each participant's monitoring device and the open
 alerts, with or without a network connection. Actions recorded offline
 reach the agency server exactly once when the connection returns.
 .
 The data on the laptop is encrypted (SQLCipher). Agency IT configures the
 server, tile server, TLS trust and lock timeout in
 /etc/field-workstation/config.toml.
EOF
echo "/etc/$APP/config.toml" >"$PKG/DEBIAN/conffiles"
(cd "$PKG" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$PKG/DEBIAN/md5sums"

# --- 5. Pack and check -------------------------------------------------------------------------
T3=$(date +%s.%N)
rm -f "$DIST/${APP}_"*"_$ARCH.deb"
case "${DEB_COMPRESS:-xz}" in
  xz) COMPRESS=(-Zxz -z6) ;;
  zstd) COMPRESS=(-Zzstd -z9) ;;
  *) log "DEB_COMPRESS must be xz or zstd"; exit 2 ;;
esac
dpkg-deb --root-owner-group "${COMPRESS[@]}" --build "$PKG" "$DEB" >/dev/null
log "dpkg-deb (${COMPRESS[*]}): $(elapsed "$T3") s"
if [ "${SKIP_LINTIAN:-0}" != 1 ]; then
  T4=$(date +%s.%N)
  # Errors fail the build; warnings are printed for the record (a frozen bundle embeds libraries).
  # Debian 12's lintian accepts only gz/xz members; a zstd build is for fast local iteration.
  SUPPRESS=()
  [ "${DEB_COMPRESS:-xz}" = zstd ] && SUPPRESS=(--suppress-tags malformed-deb-archive)
  lintian --no-tag-display-limit "${SUPPRESS[@]}" "$DEB" >"$BUILD/lintian.txt" 2>&1 || true
  log "lintian: $(elapsed "$T4") s, $(grep -c '^E:' "$BUILD/lintian.txt" || true) errors, $(grep -c '^W:' "$BUILD/lintian.txt" || true) warnings (build/installer/lintian.txt)"
  if grep -q '^E:' "$BUILD/lintian.txt"; then grep '^E:' "$BUILD/lintian.txt" | sort | uniq -c | head -30; exit 1; fi
fi
log "built $DEB"
log "size: $(stat -c %s "$DEB") bytes compressed ($(du -h "$DEB" | cut -f1)), installed $INSTALLED_KB KiB"
log "total: $(elapsed "$T0") s"
