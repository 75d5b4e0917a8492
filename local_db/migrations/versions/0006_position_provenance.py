"""position.via, bearing, altitude_m, hdop: how each position reached the server, and what it said

`via` is "osmand" (the device's own key), "gateway:NAME" or "simulator"; "" for rows synced before
the server sent it. `flags` (already a JSON list) now also holds late / invalid / mock.

Revision ID: 0006_position_provenance
Revises: 0005_zone_time_zone
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_position_provenance"
down_revision: str | None = "0005_zone_time_zone"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("position") as batch_op:
        batch_op.add_column(sa.Column("via", sa.String(length=80), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("bearing", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("altitude_m", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("hdop", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("position") as batch_op:
        for name in ("hdop", "altitude_m", "bearing", "via"):
            batch_op.drop_column(name)
