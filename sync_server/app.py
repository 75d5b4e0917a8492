"""The FastAPI application: the HTTP surface of the reference sync server.

Request and response bodies are the models of workstation.protocol, so /openapi.json is generated from
the same schemas the workstation validates against. Every error body is an ErrorBody.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hmac
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import parse_qsl

import zstandard
from fastapi import Depends, FastAPI, Header, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.sse import EventSourceResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from sync_server import api_security, audit_chain, auth, openapi_exact, signing_keys
from sync_server.actions import TimeBounds, apply_batch
from sync_server.caseload import CHILD_MODELS
from sync_server.changes import read_page
from sync_server.db import ADMIN_KEY_HASH, Database, key_digest, to_naive_utc, utcnow
from sync_server.device_keys import KeyRing
from sync_server.gateway_batch import BatchError, describe, parse_batch
from sync_server.ingest import (
    DEFAULT_BOUNDS,
    Bounds,
    IngestError,
    check_silence,
    ingest_fixes,
    record_contact,
)
from sync_server.ingest import refused as refused_fix
from sync_server.ingest_queue import IngestQueue
from sync_server.live import LiveHub
from sync_server.login_throttle import FREE_FAILURES, LoginThrottle
from sync_server.models import AuditChainBreak, AuditUpload, AuditUploadConflict, Participant, Position
from sync_server.osmand import Contact, device_credentials, json_fields, parse_osmand
from sync_server.wire import TO_WIRE, officer_data, position_data
from workstation.protocol import (
    ActionBatch,
    ActionBatchResult,
    AuditAck,
    AuditBatch,
    ChangesPage,
    ErrorBody,
    FixOutcome,
    GatewayBatch,
    GatewayFix,
    IngestResult,
    ParticipantDetail,
    PasswordChangeRequest,
    PasswordChangeResult,
    RefreshRequest,
    TokenRequest,
    TokenResponse,
    TrackResponse,
    UtcTime,
)

log = logging.getLogger("sync_server")
MAX_PAGE = 5000


@dataclass
class ServerOptions:
    access_ttl_s: int = 15 * 60
    refresh_ttl_s: int = 30 * 24 * 3600
    heartbeat_s: float = 10.0
    #: failed-login lockout of password logins (CJIS AC-7 asks for 30 minutes or an administrator)
    lockout_s: int = 30 * 60
    #: failed logins an address may make before its progressive delay starts (sync_server.login_throttle)
    login_free_failures: int = FREE_FAILURES
    #: bounds of the times officers supply in actions (how far back, clock skew ahead)
    action_time_bounds: TimeBounds = field(default_factory=TimeBounds)
    #: serve the interactive /docs and /redoc pages (sync-server --docs); /openapi.json is always there
    docs: bool = False
    #: plausibility of a fix's own time against its receipt (sync_server.ingest.Bounds)
    max_future_s: float = DEFAULT_BOUNDS.max_future_s
    max_past_s: float = DEFAULT_BOUNDS.max_past_s
    #: failed device/gateway authentications an address may make before its progressive delay starts
    device_free_failures: int = 20
    #: how often the in-memory device and gateway keys are checked for changes made elsewhere (CLI)
    key_refresh_s: float = 2.0
    max_body_bytes: int = 4 * 1024 * 1024
    #: run check_silence every N seconds (None: off; the CLI turns it on with the simulator)
    watchdog_s: float | None = None


class ServerError(Exception):
    def __init__(
        self, status: int, error: str, detail: str = "", wipe: bool = False, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail or error)
        self.status, self.error, self.detail, self.wipe, self.headers = status, error, detail, wipe, headers


def error_response(
    status: int, error: str, detail: str = "", wipe: bool = False, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        ErrorBody(error=error, detail=detail, wipe=wipe).model_dump(), status_code=status, headers=headers
    )


class RevokeRequest(BaseModel):
    workstation_id: Annotated[str, Field(min_length=1, max_length=100)]


class RevokeResult(BaseModel):
    workstation_id: str
    newly_revoked: bool


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 413, 422)
}
LOGIN_ERRORS: dict[int | str, dict[str, Any]] = {**ERRORS, 429: {"model": ErrorBody}}
INGEST_ERRORS: dict[int | str, dict[str, Any]] = {**LOGIN_ERRORS, 503: {"model": ErrorBody}}
#: the one answer to a missing key, a wrong key and an unknown serial (no oracle of which serials exist)
DEVICE_REFUSAL = ("unauthorized", "missing or wrong device key")
#: status of a refused single ping, by FixOutcome.error
PING_STATUS = {"invalid_fix_time": 400}


class RedactQueryStrings(logging.Filter):
    """Access-log lines keep the path and drop the query string: device keys travel in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?[redacted]", *args[3:])
        return True


def redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryStrings) for f in access.filters):
        access.addFilter(RedactQueryStrings())




class BodySizeLimit:
    """Refuse request bodies over a cap with 413, whether or not Content-Length was sent."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(413, "body_too_large", f"request bodies are limited to {self.max_bytes} bytes")(
                scope, receive, send
            )
            return
        if declared is not None:
            await self.app(scope, receive, send)  # the HTTP parser holds the body to its declared length
            return
        # Chunked upload: read it up to the cap first, then replay it to the app.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_bytes:
                await error_response(413, "body_too_large", f"request bodies are limited to {self.max_bytes} bytes")(
                    scope, receive, send
                )
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def encoded(body: bytes, request: Request, media_type: str = "application/json") -> Response:
    """Compress a JSON body with zstd or gzip when the client accepts it."""
    accepted = request.headers.get("accept-encoding", "").lower()
    headers = {"vary": "accept-encoding"}
    if len(body) >= 512 and "zstd" in accepted:
        body, headers["content-encoding"] = zstandard.ZstdCompressor(level=6).compress(body), "zstd"
    elif len(body) >= 512 and "gzip" in accepted:
        body, headers["content-encoding"] = gzip.compress(body, compresslevel=6), "gzip"
    return Response(body, media_type=media_type, headers=headers)


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Security(api_security.officer_bearer)]


def current_caller(request: Request, credentials: BearerCredentials) -> auth.Caller:
    with request.app.state.db.read() as session:
        return auth.authenticate(session, api_security.authorization_header(credentials))


CurrentCaller = Annotated[auth.Caller, Depends(current_caller)]


def enrolled_workstation(
    request: Request, who: CurrentCaller,
    x_workstation_credential: Annotated[str | None, Security(api_security.workstation_credential)] = None,
) -> auth.Caller:
    """An officer's token used from the workstation it was issued to, proven by that workstation's
    enrolment credential: for routes that file data under the workstation's id (audit upload)."""
    with request.app.state.db.read() as session:
        auth.check_workstation_credential(session, who, x_workstation_credential)
    return who


EnrolledWorkstation = Annotated[auth.Caller, Depends(enrolled_workstation)]


class IngestSink(Protocol):
    """Where the ingestion routes hand authenticated fixes: the database (all-in-one) or the broker
    (cluster receivers, sync_server.cluster.receiver). Answers only once the fixes are stored, per fix.
    `via` is the provenance stored with each position ("osmand", "gateway:NAME"); a FixOutcome among
    a batch's items is a refusal the route decided (it keeps its slot in the answer)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def ping(self, fix: GatewayFix, via: str) -> FixOutcome: ...
    async def batch(self, items: list[GatewayFix | FixOutcome], via: str) -> IngestResult: ...
    async def contact(self, contact: Contact) -> None: ...
    async def unavailable(self) -> str | None: ...


class LocalIngest:
    """The all-in-one server's ingestion: straight into its database, concurrent pings grouped."""

    def __init__(self, db: Database, hub: LiveHub, bounds: Bounds = DEFAULT_BOUNDS) -> None:
        self.db, self.hub, self.bounds = db, hub, bounds
        self.pings = IngestQueue(db, hub, bounds=bounds)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.pings.stop()

    async def ping(self, fix: GatewayFix, via: str) -> FixOutcome:
        return await asyncio.wrap_future(self.pings.submit(fix))  # via: the queue's, "osmand"

    async def batch(self, items: list[GatewayFix | FixOutcome], via: str) -> IngestResult:
        return await asyncio.to_thread(ingest_fixes, self.db, items, self.hub, None, via, self.bounds)

    async def contact(self, contact: Contact) -> None:
        await asyncio.to_thread(record_contact, self.db, contact.serial, contact.battery_pct, contact.charging, self.hub)

    async def unavailable(self) -> str | None:
        return await asyncio.to_thread(_database_problem, self.db)


INGEST_PATHS = frozenset({"/osmand", "/v1/ingest/fixes"})


def create_app(
    db: Database, hub: LiveHub | None = None, options: ServerOptions | None = None,
    ingest: IngestSink | None = None, serve: Literal["all", "ingest", "api"] = "all",
) -> FastAPI:
    """The server's routes; `serve` picks the all-in-one set, a cluster receiver's (ingestion only, into
    `ingest`) or an API worker's (everything but ingestion)."""
    options = options or ServerOptions()
    hub = hub or LiveHub()
    sink: IngestSink = ingest or LocalIngest(db, hub, Bounds(options.max_future_s, options.max_past_s))
    policy = auth.AuthPolicy(options.access_ttl_s, options.refresh_ttl_s, options.lockout_s)
    throttle = LoginThrottle(free_failures=options.login_free_failures)
    keys = KeyRing.from_database(db)  # receivers too: refreshed in the background, read from memory
    device_throttle = LoginThrottle(free_failures=options.device_free_failures)
    redact_access_log()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await sink.start()
        await hub.start()
        tasks = []
        if serve != "api":
            await asyncio.to_thread(keys.refresh, True)
            tasks.append(asyncio.create_task(_refresh_keys(keys, options.key_refresh_s)))
        if options.watchdog_s:
            tasks.append(asyncio.create_task(_watchdog(db, hub, options.watchdog_s)))
        try:
            yield
        finally:
            hub.close()
            await sink.stop()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="Field Workstation reference sync server",
        version="1",
        description="Sync protocol of the Field Workstation (models in workstation/protocol.py; "
        "the flows in docs/architecture.md).",
        lifespan=lifespan,
        # the interactive pages load scripts from a CDN and invite exploration: off unless asked for
        docs_url="/docs" if options.docs else None,
        redoc_url="/redoc" if options.docs else None,
    )
    openapi_exact.install(app)
    app.state.db, app.state.hub, app.state.options, app.state.keys = db, hub, options, keys
    app.add_middleware(BodySizeLimit, max_bytes=options.max_body_bytes)

    @app.exception_handler(ServerError)
    async def _server_error(_req: Request, exc: ServerError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.detail, exc.wipe, exc.headers)

    @app.exception_handler(auth.AuthError)
    async def _auth_error(_req: Request, exc: auth.AuthError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.detail, exc.wipe)

    @app.exception_handler(IngestError)
    async def _ingest_error(_req: Request, exc: IngestError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_req: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", describe(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        # keeps the exception's headers: a 405 names the allowed methods in Allow
        return error_response(exc.status_code, "http_error", str(exc.detail), headers=exc.headers)

    @app.get("/healthz", responses={503: {"model": ErrorBody}})
    async def healthz() -> dict[str, str]:
        problem = await (sink.unavailable() if serve == "ingest" else asyncio.to_thread(_database_problem, db))
        if problem:
            raise ServerError(503, problem)
        return {"status": "ok"}

    @app.post("/v1/auth/token", response_model=TokenResponse, responses=LOGIN_ERRORS)
    def token(body: TokenRequest, request: Request) -> TokenResponse:
        address = _admitted_address(request, throttle, "logins")
        with db.write() as session:
            issued = auth.login(
                session, body.username, body.password, body.workstation_id, policy, body.one_time_code
            )
        if isinstance(issued, auth.AuthError):
            if issued.error in ("invalid_credentials", "mfa_invalid"):
                throttle.failed(address)
            raise issued
        throttle.succeeded(address)
        return _token_response(issued)

    @app.post("/v1/auth/refresh", response_model=TokenResponse, responses=ERRORS)
    def refresh(body: RefreshRequest) -> TokenResponse:
        with db.write() as session:
            issued = auth.refresh(session, body.refresh_token, policy)
        if isinstance(issued, auth.AuthError):
            raise issued
        return _token_response(issued)

    @app.post("/v1/auth/password", response_model=PasswordChangeResult, responses=ERRORS)
    def change_password(body: PasswordChangeRequest, who: CurrentCaller) -> PasswordChangeResult:
        with db.write() as session:
            refused = auth.change_password(session, who, body.current_password, body.new_password, policy)
        if refused is not None:
            raise refused
        return PasswordChangeResult()

    @app.get("/v1/sync/changes", responses={200: {"model": ChangesPage}, **ERRORS})
    def changes(
        request: Request,
        who: CurrentCaller,
        cursor: Annotated[int, Query(ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
    ) -> Response:
        with db.read() as session:
            body = read_page(session, who.officer_id, cursor, limit)
        return encoded(body, request)

    time_bounds = replace(options.action_time_bounds, agency_time_zone=db.agency_time_zone)

    @app.post("/v1/actions:batch", response_model=ActionBatchResult, responses=ERRORS)
    def actions(batch: ActionBatch, who: CurrentCaller) -> ActionBatchResult:
        ids = [a.id for a in batch.actions]
        if len(set(ids)) != len(ids):
            raise ServerError(422, "duplicate_action_ids", "an action id appears twice in one batch")
        return ActionBatchResult(results=apply_batch(db, who, list(batch.actions), time_bounds, hub))

    @app.get("/v1/participants/{case_number}", responses={200: {"model": ParticipantDetail}, **ERRORS})
    def participant_detail(case_number: str, request: Request, who: CurrentCaller) -> Response:
        with db.read() as session:
            participant = _own_participant(session, who, case_number)
            rows = {
                entity: session.scalars(select(model).where(model.participant_id == participant.id)).all()
                for entity, model in CHILD_MODELS.items()
            }
            detail = ParticipantDetail(
                participant=TO_WIRE["participant"](participant),
                devices=[TO_WIRE["device"](r) for r in rows["device"]],
                zones=[TO_WIRE["zone"](r) for r in rows["zone"]],
                appointments=[TO_WIRE["appointment"](r) for r in sorted(rows["appointment"], key=_starts)],
                open_alerts=[TO_WIRE["alert"](r) for r in rows["alert"] if r.state != "resolved"],
                notes=[TO_WIRE["note"](r) for r in sorted(rows["note"], key=_occurred, reverse=True)[:200]],
            )
        return encoded(detail.model_dump_json().encode(), request)

    @app.get("/v1/participants/{case_number}/track", responses={200: {"model": TrackResponse}, **ERRORS})
    def track(
        case_number: str, request: Request, who: CurrentCaller, hours: Annotated[float, Query(gt=0, le=24 * 31)] = 24,
        since: UtcTime | None = None, until: UtcTime | None = None,
    ) -> Response:
        """The last `hours`, or the window [since, until) (until: now) within the last 31 days."""
        now = utcnow()
        start = to_naive_utc(since) if since is not None else now - timedelta(hours=hours)
        end = to_naive_utc(until) if until is not None else now + timedelta(minutes=1)
        if start < now - timedelta(days=31) or end <= start:
            raise ServerError(422, "invalid_window", "the track window must lie within the last 31 days, since before until")
        with db.read() as session:
            participant = _own_participant(session, who, case_number)
            rows = session.scalars(
                select(Position)
                .where(Position.participant_id == participant.id, Position.fix_time >= start, Position.fix_time < end)
                .order_by(Position.fix_time)
                .limit(50_000)
            ).all()
            body = TrackResponse(positions=[position_data(r) for r in rows]).model_dump_json()
        return encoded(body.encode(), request)

    @app.get("/v1/live", responses={200: {"content": {"text/event-stream": {}}}, **ERRORS})
    def live(
        who: CurrentCaller,
        after: Annotated[int | None, Query(ge=0)] = None,
        last_event_id: Annotated[str | None, Header()] = None,
        credentials: BearerCredentials = None,
    ) -> EventSourceResponse:
        authorization = api_security.authorization_header(credentials)
        start = after
        if start is None and last_event_id and last_event_id.isdigit():
            start = int(last_event_id)
        if start is None:
            start = hub.last_seq
        return EventSourceResponse(
            hub.stream(
                who.officer_id, start, options.heartbeat_s,
                recheck=lambda: asyncio.to_thread(auth.stream_denial, db, authorization),
            ),
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    async def osmand(request: Request) -> Response:
        address = _admitted_address(request, device_throttle, "device authentications")
        fields: dict[str, str] = {}
        if request.method == "POST":
            body = await request.body()
            try:
                if request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json":
                    fields.update(json_fields(body))  # the current Traccar Client
                else:
                    # tracker apps post application/x-www-form-urlencoded; parsed here without python-multipart
                    fields.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            except (UnicodeDecodeError, ValueError) as exc:
                raise ServerError(400, "invalid_osmand", f"unreadable body: {str(exc)[:200]}") from None
        fields.update(request.query_params)  # the URL wins over the same field in the body
        serial, key = device_credentials(fields, request.headers.get("authorization"))
        if not keys.device(serial, key):
            device_throttle.failed(address)
            raise ServerError(401, *DEVICE_REFUSAL)
        try:
            fix = parse_osmand({**fields, "id": serial}, db.now())
        except (ValueError, ValidationError) as exc:
            raise ServerError(400, "invalid_osmand", _describe_exc(exc)) from None
        try:
            if isinstance(fix, Contact):
                await sink.contact(fix)
                return Response(status_code=200)
            outcome = await sink.ping(fix, "osmand")
        except ServerError:
            raise
        except Exception:  # noqa: BLE001 - logged where it failed; the tracker retries later
            raise ServerError(503, "ingest_unavailable", "the fix could not be stored; retry later") from None
        if outcome.status == "rejected":
            raise ServerError(PING_STATUS.get(outcome.error or "", 422), outcome.error or "rejected", outcome.detail or "")
        return Response(status_code=200)

    for method in ("GET", "POST"):
        app.add_api_route(
            "/osmand", osmand, methods=[method], operation_id=f"osmand_{method.lower()}",
            responses={200: {"content": {"text/plain": {}}}, **INGEST_ERRORS},
            summary="OsmAnd / Traccar Client tracking ping (query string or form fields; device key required)",
        )

    @app.post(
        "/v1/ingest/fixes", response_model=IngestResult, responses=INGEST_ERRORS,
        openapi_extra={"requestBody": {
            "required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GatewayBatch"}}},
        }},
    )
    async def ingest(
        request: Request, x_gateway_key: Annotated[str | None, Security(api_security.gateway_key)] = None
    ) -> Response:
        """A vendor gateway's batch: authenticated before its body is even read, answered per fix (200);
        a batch of which no fix is accepted is a 422 (the first refusal's reason)."""
        address = _admitted_address(request, device_throttle, "device authentications")
        gateway = keys.gateway(x_gateway_key)
        if gateway is None:
            device_throttle.failed(address)
            raise ServerError(401, "invalid_key", "missing or wrong X-Gateway-Key")
        try:
            items = parse_batch(await request.body())
        except BatchError as exc:
            raise ServerError(422, "invalid_request", str(exc)) from None
        items = [
            item if not isinstance(item, GatewayFix) or keys.gateway_allows(gateway, item.serial)
            else refused_fix("device_not_assigned", f"device {item.serial[:64]} is not assigned to this gateway")
            for item in items
        ]
        result = await sink.batch(items, f"gateway:{gateway}")
        if not result.accepted:  # nothing of the batch was usable: the request as a whole failed
            first = result.results[0]
            same = all(r.error == first.error for r in result.results)
            raise ServerError(
                422, first.error if same and first.error else "no_fix_accepted",
                (first.detail or "") if len(result.results) == 1 else f"no fix accepted; first: {first.detail}"[:500],
            )
        return Response(result.model_dump_json(), media_type="application/json")

    @app.post("/v1/audit", response_model=AuditAck, responses=ERRORS)
    def audit(batch: AuditBatch, who: EnrolledWorkstation) -> AuditAck:
        records = sorted(batch.records, key=_seq)
        strangers = sorted({r.officer for r in records if r.officer not in (who.username, "")})
        if strangers:
            # Rows are filed under the token's officer; one naming someone else is not this officer's
            # to upload. ("" is a row written before the store knew its officer: an offline unlock.)
            raise ServerError(
                422, "audit_officer_mismatch",
                f"audit rows must name the signed-in officer {who.username!r}, not {', '.join(strangers)[:100]}",
            )
        with db.write() as session:
            held = audit_chain.held_hashes(session, who.workstation_id, records[0].seq, max(r.seq for r in records))
            check = audit_chain.check_batch(
                records, held, audit_chain.last_held_before(session, who.workstation_id, records[0].seq)
            )
            if not check.ok and session.get(AuditChainBreak, (who.workstation_id, check.broken_at)) is None:
                log.warning("audit chain of workstation %s: %s", who.workstation_id, check.reason)
                session.add(AuditChainBreak(
                    workstation_id=who.workstation_id, seq=check.broken_at, reason=check.reason, detected_at=utcnow(),
                ))
            for record in records:
                # the server's copy of a row is never overwritten; a differing one is kept beside it
                if record.seq not in held:
                    held[record.seq] = record.hash
                    table = AuditUpload
                elif held[record.seq] != record.hash:
                    table = AuditUploadConflict
                else:
                    continue  # a replay after a lost ack
                session.add(table(
                    workstation_id=who.workstation_id, seq=record.seq, officer_id=who.officer_id,
                    record=record.model_dump_json(), received_at=utcnow(),
                ))
        return AuditAck(
            acknowledged_through=max(r.seq for r in records),
            chain_ok=check.ok, broken_at=check.broken_at, reason=check.reason,
        )

    @app.post("/v1/admin/revoke-workstation", response_model=RevokeResult, responses=ERRORS)
    def revoke(
        body: RevokeRequest, x_admin_key: Annotated[str | None, Security(api_security.admin_key)] = None
    ) -> RevokeResult:
        _require_admin_key(db, x_admin_key)
        with db.write() as session:
            newly = auth.revoke_workstation(session, body.workstation_id)
        return RevokeResult(workstation_id=body.workstation_id, newly_revoked=newly)

    signing_keys.add_routes(app, db, CurrentCaller, ServerError, ERRORS)
    if serve == "api":
        app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) not in INGEST_PATHS]
    elif serve == "ingest":
        kept = INGEST_PATHS | {"/healthz"}
        app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) in kept]
    app.openapi = partial(_openapi_with_models, app, app.openapi, (GatewayBatch,))
    return app


def _openapi_with_models(app: FastAPI, build: Any, models: tuple[type[BaseModel], ...]) -> dict[str, Any]:
    """The generated document plus the schemas of bodies a route reads itself (referenced by name)."""
    if app.openapi_schema is None:
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            own = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(own.pop("$defs", {}))
            components[model.__name__] = own
        app.openapi_schema = schema
    return app.openapi_schema


def _admitted_address(request: Request, throttle: LoginThrottle, what: str) -> str:
    """The caller's address, once it is not being made to wait after failed attempts (else 429)."""
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(address)
    if wait:
        raise ServerError(
            429, "too_many_attempts", f"too many failed {what} from this address; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    return address


def _token_response(issued: auth.IssuedTokens) -> TokenResponse:
    return TokenResponse(
        access_token=issued.access_token, refresh_token=issued.refresh_token, expires_in=issued.expires_in,
        officer=officer_data(issued.officer), workstation_credential=issued.workstation_credential,
    )


def _own_participant(session: Any, who: auth.Caller, case_number: str) -> Participant:
    participant = session.scalar(select(Participant).where(Participant.case_number == case_number))
    if participant is None or participant.officer_id != who.officer_id:
        # Same answer whether it does not exist or belongs to someone else.
        raise ServerError(404, "not_found", "no such participant in your caseload")
    return participant


def _database_problem(db: Database) -> str | None:
    try:
        with db.read() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return "database_unavailable"
    return None


def _require_admin_key(db: Database, given: str | None) -> None:
    expected = db.setting(ADMIN_KEY_HASH)
    if not given or expected is None or not hmac.compare_digest(key_digest(given), expected):
        raise ServerError(401, "invalid_key", "missing or wrong X-Admin-Key")


def _require_key(db: Database, name: str, given: str | None, header: str) -> None:
    expected = db.setting(name)
    if not given or expected is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ServerError(401, "invalid_key", f"missing or wrong {header}")


def _seq(record: Any) -> int:
    return record.seq


def _starts(row: Any) -> datetime:
    return row.starts_at


def _occurred(row: Any) -> datetime:
    return row.occurred_at


def _describe_exc(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return describe(exc.errors())
    return str(exc)


async def _refresh_keys(keys: KeyRing, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(keys.refresh)
        except SQLAlchemyError:
            log.exception("device keys not refreshed; keeping the ones held")


async def _watchdog(db: Database, hub: LiveHub, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(check_silence, db, hub)
        except SQLAlchemyError:
            log.exception("silence check failed; retrying next round")
