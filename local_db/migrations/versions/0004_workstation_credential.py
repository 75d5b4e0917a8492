"""sync_state: the workstation credential the server handed out at enrolment

The server gives it once, at the workstation's first login, and accepts audit uploads only with it;
it lives here, inside the encrypted store, and nowhere else.

Revision ID: 0004_workstation_credential
Revises: 0003_audit_append_only
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_workstation_credential"
down_revision: str | None = "0003_audit_append_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workstation_credential", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_state", schema=None) as batch_op:
        batch_op.drop_column("workstation_credential")
