"""`workstation verify-packet FILE.pdf`: exit 0 when the file is intact and its seal holds.

No password needed: the check reads only the file and, when one is configured and reachable, asks
the agency server (unauthenticated: it answers only for a key fingerprint, which only a holder of
the file knows) whether the key that sealed it is registered to the workstation it names.
Offline, the signature is checked against the public key embedded in the file and the output says
"not checked against the server". Any changed byte, a failed signature or a key the server does
not know: exit 1 with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

NAME = "verify-packet"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="check that an evidence packet or report is unaltered and who sealed it",
        description="Verify the seal of a PDF made by `workstation report` (every byte), the attached "
        "manifest, and, online, the agency server's record of the signing key.",
    )
    parser.add_argument("file", type=Path, metavar="FILE.pdf")
    parser.add_argument("--server", metavar="URL", help="agency server to check the key with (default: server_url)")
    parser.add_argument("--offline", action="store_true", help="do not contact the server")
    parser.add_argument("--manifest-out", type=Path, metavar="FILE.json", help="also write the attached manifest here")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from workstation.reports.seal import SealBroken, seal_summary
    from workstation.reports.verify import verify_file

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"workstation verify-packet: {args.file}: cannot read: {exc.strerror}", file=sys.stderr)
        return 1
    client = None if args.offline else _client(args.server)
    try:
        lookup = None
        if client is not None:
            from workstation.reports.signing_key import lookup as lookup_key

            def lookup(fingerprint: str) -> Any:
                return lookup_key(client, fingerprint)

        result = verify_file(data, lookup)
    except SealBroken as exc:
        print(f"workstation verify-packet: {args.file}: NOT INTACT: {exc}", file=sys.stderr)
        return 1
    finally:
        if client is not None:
            client.close()
    if not result.ok:
        print(f"workstation verify-packet: {args.file}: signature not trusted: {result.server_check}", file=sys.stderr)
        return 1
    if args.manifest_out is not None:
        args.manifest_out.write_bytes(result.manifest)
    server = (f"key registered with the agency server ({result.server_detail})" if result.server_check == "registered"
              else f"signature checked against the key in the file only; not checked against the server ({result.server_detail})")
    if args.json:
        print(json.dumps({"ok": True, **seal_summary(result.seal), "server_check": result.server_check,
                          "server_detail": result.server_detail}, indent=2))
    else:
        kind = result.seal.kind.replace("-", " ")
        print(f"{args.file}: intact {kind} {result.seal.packet_id}, sealed {result.seal.signed_at} by workstation "
              f"{result.seal.workstation_id}; manifest SHA-256 {result.seal.manifest_sha256}; {server}")
    return 0


def _client(server: str | None) -> Any:
    """An unauthenticated client for the configured server, or None when there is none (offline)."""
    from workstation import config as config_mod
    from workstation.security.tls import InsecureTransport, from_config
    from workstation.sync.http import ServerClient

    config = config_mod.load_config(home=config_mod.data_dir())
    url = server or config.server_url
    if not url:
        return None
    try:
        verify = from_config(url, config)
    except InsecureTransport as exc:
        print(f"workstation verify-packet: {exc}; checking offline", file=sys.stderr)
        return None
    return ServerClient(url, verify=verify)
