"""Court-ready evidence packets and officer reports, produced from the local store with no network.

One idea per module:
- `window`: the reporting window (aware datetimes, its time zone, how times are printed);
- `contents`: what the laptop holds for a participant and window, gathered into plain records, with
  a statement for everything it does not hold;
- `manifest`: the canonical JSON of every record in a packet and its SHA-256;
- `pdf`: the shared ReportLab document (embedded fonts, XMP metadata, the attached manifest, the
  footer on every page); `packet_pdf` lays out the evidence packet;
- `seal`: the Ed25519 seal appended to the PDF and its verification (any changed byte fails);
- `signing_key`: the per-workstation key kept in the encrypted store and its registration with the server;
- `export`: generate, audit (`export`/`print` rows before any byte leaves) and write a report;
- `day`: the officer's daily activity report (its contents and its pages);
- `verify`: what `workstation verify-packet` checks, offline and against the server.

No Qt and no maps here (import contracts): the map image is drawn by a renderer the caller passes in.
"""
