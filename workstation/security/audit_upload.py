"""Upload the audit chain with each sync (CJIS AU-9: the server holds the protected copy).

Before anything is sent the local chain is verified (a break is recorded as its own
`audit_chain_break` row, which is uploaded too: a break is reported, never hidden). Rows after
the last acknowledged seq go up in order, in batches, to `POST /v1/audit` (protocol.AuditBatch);
the server's AuditAck says how far it stored them, and that seq is kept in
SyncState.audit_acked_seq so a lost acknowledgement only means the next sync sends a few rows
again (the server stores each (workstation, seq) once).

The server also checks that each batch continues the copy it already holds (a local history that was
rewritten and re-hashed verifies locally, but not against rows uploaded before the rewrite). When its
acknowledgement says the chain does not continue, the break is recorded here too, once, as an
`audit_chain_break` row with object `server:audit_event:<seq>`, uploaded with the next batch, and
returned in AuditUploadResult (the sync summary reports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from functools import partial
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy.orm import Session

from local_db import audit as audit_log
from local_db.models import AuditEvent, SyncState
from local_db.store import Store
from workstation.protocol import AuditAck, AuditBatch, AuditRecord
from workstation.sync.apply import SYNC_STATE_ID, sync_state
from workstation.sync.errors import ServerFailed

AUDIT_PATH = "/v1/audit"
BATCH_SIZE = 1000


CREDENTIAL_HEADER = "X-Workstation-Credential"


class _Poster(Protocol):  # workstation.sync.http.ServerClient
    def post_json(
        self, path: str, payload: bytes | dict[str, Any], *, authenticated: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Any: ...


@dataclass(frozen=True)
class AuditUploadResult:
    sent: int
    acknowledged_through: int
    chain_ok: bool
    broken_at: int | None
    #: where and why the server found the uploaded chain not continuing its copy (None: it does)
    server_broken_at: int | None = None
    server_reason: str = ""

    def problem(self) -> str | None:
        """One line for the officer and the log, or None when both checks passed."""
        found = []
        if not self.chain_ok:
            found.append(f"the local audit chain is broken at row {self.broken_at}")
        if self.server_broken_at is not None:
            found.append(f"the server reports a break at row {self.server_broken_at}: {self.server_reason}")
        return "; ".join(found) or None


def acked_seq(session: Session) -> int:
    state = session.get(SyncState, SYNC_STATE_ID)
    return state.audit_acked_seq if state is not None and state.audit_acked_seq else 0


def credential_headers(session: Session) -> dict[str, str]:
    """The enrolment credential the server asks of audit uploads (none yet: the server refuses, the
    rows stay here and go up once the officer's next online login has enrolled the workstation)."""
    state = session.get(SyncState, SYNC_STATE_ID)
    credential = state.workstation_credential if state is not None else None
    return {CREDENTIAL_HEADER: credential} if credential else {}


def _record_ack(session: Session, seq: int) -> None:
    state = sync_state(session)
    # never move backwards: a late, smaller ack from a retried request changes nothing
    state.audit_acked_seq = max(state.audit_acked_seq or 0, seq)


def to_record(row: AuditEvent) -> AuditRecord:
    return AuditRecord(
        seq=row.seq,
        at=row.at.replace(tzinfo=UTC),
        officer=row.officer,
        workstation_id=row.workstation_id,
        event=row.event,
        object=row.object,
        outcome=row.outcome,
        detail=row.detail,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def upload_audit(store: Store, client: _Poster, batch_size: int = BATCH_SIZE) -> AuditUploadResult:
    """Verify, then send every unacknowledged row; raises a SyncError on failure (ServerFailed for
    an answer that is not an acknowledgement)."""
    with store.read_session() as session:
        report = audit_log.verify_chain(session)
    audit_log.report_break(store, report)
    sent = 0
    server_break: AuditAck | None = None
    while True:
        with store.read_session() as session:
            after = acked_seq(session)
            records = [to_record(r) for r in audit_log.unsent_rows(session, after, batch_size)]
            headers = credential_headers(session)
        if not records:
            break
        body = AuditBatch(records=records).model_dump_json().encode()
        try:
            ack = AuditAck.model_validate_json(client.post_json(AUDIT_PATH, body, headers=headers).content)
        except ValidationError:
            raise ServerFailed("the server's answer to the audit upload is not an acknowledgement", 200) from None
        if not ack.chain_ok:
            server_break = server_break or ack
            audit_log.record_break(
                store,
                f"server:audit_event:{ack.broken_at}",
                {"reported_by": "server", "broken_at": ack.broken_at, "reason": ack.reason},
            )
        through = min(ack.acknowledged_through, records[-1].seq)
        if through <= after:
            raise ServerFailed(f"the server acknowledged no audit rows after {after}", 200)
        store.write(partial(_record_ack, seq=through), durable=True)
        sent += len(records)
    with store.read_session() as session:
        through = acked_seq(session)
    return AuditUploadResult(
        sent, through, report.ok, report.broken_at,
        server_broken_at=server_break.broken_at if server_break else None,
        server_reason=server_break.reason if server_break else "",
    )
