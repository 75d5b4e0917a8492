"""The reference server scaled out: receivers -> NATS JetStream -> rules workers -> PostgreSQL, with
stateless API workers serving /v1/live from the broker (docs/scaling.md, "Running the cluster").

Roles of one codebase, started as `sync-server receive | rules | api`; `sync-server` alone stays the
all-in-one server. Every role reuses the all-in-one's validation, rules and storage code
(sync_server.ingest.order_fixes / apply_fixes, sync_server.app.create_app).
"""
