"""The reference agency server: the other end of the sync protocol (workstation/protocol.py).

Modules, one concern each: app (HTTP surface), auth (passwords, lockout, tokens, revocation), changes
(the per-officer change feed), actions (exactly-once officer actions), ingest + ingest_queue + osmand
(device fixes and the rules evaluated on them), zones/geo (zone cache and geometry), live (SSE fan-out),
seeder, simulator, embedded (run it inside tests, benchmarks and the demo), __main__ (the `sync-server`
command). It imports nothing of ours but workstation.protocol.
"""
