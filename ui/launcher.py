"""The `workstation` console script.

It lives in ui/ because without a subcommand it opens the GUI, and nothing may import ui.
Headless subcommands (selftest, sync, caseload, note, outbox, ...) are handed to
workstation.cli without importing any widget, so scripts and the installer's smoke test stay
light.
"""

from __future__ import annotations

import sys


def _chromium_sandbox_policy() -> None:
    """Chromium cannot sandbox its renderers when the process runs as root and aborts the whole
    app instead. Root is not how officers run the app (the .deb installs a per-user launcher),
    but it is how throw-away CI and installer smoke-test machines run it; there the page is our
    own bundled assets with every outside request blocked, so we run without the sandbox and say
    so on stderr rather than crash. As any other user the sandbox stays on."""
    import os

    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return
    flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
    if os.environ.get("QTWEBENGINE_DISABLE_SANDBOX") == "1" or "--no-sandbox" in flags:
        return
    os.environ["QTWEBENGINE_DISABLE_SANDBOX"] = "1"
    print(
        "warning: running as root: the map's web engine runs without Chromium's sandbox; "
        "run the workstation as a normal user in the field",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    from workstation import cli

    if not args or args[0] == "selftest" or args[0].startswith("-"):
        _chromium_sandbox_policy()  # only the GUI and the self-test start the web engine

    if args and args[0] == "selftest":
        return _selftest(args)
    if args and args[0] == "report":
        return _report(args)
    if args and args[0] == "maps":
        return _maps(args)
    if args and not args[0].startswith("-") and args[0] in cli.subcommand_names():
        return cli.main(args)
    if args and args[0] in ("-h", "--help") and len(args) == 1:
        return cli.main(args)
    from ui import app  # the GUI; imported only when it is wanted

    return app.main(args)


def _selftest(args: list[str]) -> int:
    """`workstation selftest`: the store checks (workstation), then the map page check when the
    maps package provides one, merged into one report and one exit code."""
    from workstation import cli

    parsed = cli.build_parser().parse_args(args)
    extra = []
    try:
        from maps.selftest import check_map_page
    except ImportError:  # the map part is not built into this install (yet)
        pass
    else:
        extra.append(("map_page", lambda: _offscreen_if_headless(check_map_page)))
    return cli.run_command(parsed.command_module, parsed, extra_checks=extra)


def _report(args: list[str]) -> int:
    """`workstation report`: the core generates the report; the track map comes from maps (offline tiles),
    which the core may not import, so it is handed in here."""
    from workstation import cli

    parsed = cli.build_parser().parse_args(args)
    try:
        from maps.track_map import OfflineTrackMaps
    except ImportError:  # the map part is not built into this install
        return cli.run_command(parsed.command_module, parsed)
    return cli.run_command(parsed.command_module, parsed, map_renderer_factory=OfflineTrackMaps)


def _maps(args: list[str]) -> int:
    """`workstation maps ...`: parsed by workstation.cli, carried out by the maps package (which the
    core may not import), when this install has it."""
    from workstation import cli

    parsed = cli.build_parser().parse_args(args)
    try:
        from maps.package_commands import run_maps_command
    except ImportError:  # the map part is not built into this install
        run_maps_command = None
    return cli.run_command(parsed.command_module, parsed, implementation=run_maps_command)


def _offscreen_if_headless(check):  # type: ignore[no-untyped-def]
    """Run the map check; on a Linux machine without a display (installer test, CI) render
    offscreen. The check makes its own QApplication (schemes must be registered before it)."""
    import os

    if sys.platform.startswith("linux"):
        sandbox_off = os.environ.get("QTWEBENGINE_DISABLE_SANDBOX") == "1" or "--no-sandbox" in os.environ.get(
            "QTWEBENGINE_CHROMIUM_FLAGS", ""
        )
        if os.geteuid() == 0 and not sandbox_off:
            # Only reached when called without main()'s sandbox policy; Chromium would abort the process.
            return {"ok": False, "error": "the map engine (Chromium) does not run as root with its sandbox on"}
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return check()


if __name__ == "__main__":
    raise SystemExit(main())
