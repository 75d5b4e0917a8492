"""Continuity of a workstation's uploaded audit chain (CJIS AU-9: the server holds the protected copy).

The workstation verifies its own chain before each upload, but someone with the data key and a SQL
shell can rewrite history and re-hash every row after the edit: the local chain then verifies again.
Only the server, which kept the rows uploaded before the edit, can see that. So each upload is checked
against what the server already holds from that workstation:

- the batch is one run of consecutive seqs, each row's prev_hash naming the hash of the row before;
- its first row links to the server's copy of the row before it (or to the genesis hash at seq 1);
  when the server never received that row, the rows in between are a gap;
- a row the server already holds comes again with the same hash (a replay after a lost ack), never
  with a different one.

The first problem found is the answer (AuditAck.chain_ok / broken_at / reason) and is kept in
`audit_chain_break`; the rows are stored all the same (evidence is never dropped): a row already
held is never overwritten, and one that differs from it goes to `audit_upload_conflict`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync_server.models import AuditUpload
from workstation.protocol import AuditRecord

# The client's first row links to this (local_db.audit.GENESIS_HASH; the server imports none of local_db).
GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class ChainCheck:
    ok: bool = True
    #: the first seq at which the uploaded chain does not continue the server's copy
    broken_at: int | None = None
    reason: str = ""


def held_hashes(session: Session, workstation_id: str, first_seq: int, last_seq: int) -> dict[int, str]:
    """seq -> hash of the rows the server holds from this workstation in [first_seq - 1, last_seq]."""
    rows = session.execute(
        select(AuditUpload.seq, AuditUpload.record).where(
            AuditUpload.workstation_id == workstation_id,
            AuditUpload.seq >= first_seq - 1,
            AuditUpload.seq <= last_seq,
        )
    )
    return {seq: json.loads(record)["hash"] for seq, record in rows}


def last_held_before(session: Session, workstation_id: str, seq: int) -> int:
    found = session.scalars(
        select(AuditUpload.seq)
        .where(AuditUpload.workstation_id == workstation_id, AuditUpload.seq < seq)
        .order_by(AuditUpload.seq.desc())
        .limit(1)
    ).first()
    return found or 0


def check_batch(records: Sequence[AuditRecord], held: Mapping[int, str], last_before: int) -> ChainCheck:
    """Does `records` continue the chain the server holds (`held`: seq -> hash, `last_before`: the
    highest seq held below the batch)?"""
    first = records[0]
    if first.seq == 1:
        expected = GENESIS_HASH
    elif first.seq - 1 in held:
        expected = held[first.seq - 1]
    else:
        return ChainCheck(
            False, first.seq, f"gap: rows {last_before + 1}..{first.seq - 1} never reached the server"
        )
    previous_seq = first.seq - 1
    for record in records:
        if record.seq != previous_seq + 1:
            return ChainCheck(False, record.seq, f"the batch skips from row {previous_seq} to row {record.seq}")
        if record.prev_hash != expected:
            return ChainCheck(False, record.seq, f"row {record.seq}'s prev_hash is not the hash of row {previous_seq}")
        if record.seq in held and held[record.seq] != record.hash:
            return ChainCheck(False, record.seq, f"row {record.seq} differs from the copy the server already holds")
        expected = record.hash
        previous_seq = record.seq
    return ChainCheck()
