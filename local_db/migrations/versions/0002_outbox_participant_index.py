"""outbox: index of a participant's actions in push order

The participant detail and conflict views list one participant's outbox actions in order;
without this index that is a scan of the whole outbox.

Revision ID: 0002_outbox_participant
Revises: 0001_initial
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_outbox_participant"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_action", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_participant_seq", ["participant_id", "seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_action", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_participant_seq")
