"""zone.time_zone: the IANA zone a zone's schedule is written in

NULL for rows synced before the server sent one: readers fall back to the agency's default
(workstation.rules.schedule.effective_time_zone); the next sync fills it in.

Revision ID: 0005_zone_time_zone
Revises: 0004_workstation_credential
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_zone_time_zone"
down_revision: str | None = "0004_workstation_credential"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("zone") as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("zone") as batch_op:
        batch_op.drop_column("time_zone")
