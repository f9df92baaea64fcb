"""Reviews and appeals of findings, and each call's score recomputed from the decisions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The score as scored stays in `score`; these hold it after reviews (NULL: nothing reviewed yet),
    # so calls stored before this revision need no data changed.
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("reviewed_score", sa.Float))
        batch.add_column(sa.Column("reviewed_grade", sa.Text))
        batch.add_column(sa.Column("reviewed_passed", sa.Boolean))
        batch.add_column(sa.Column("reviewed_fatal", sa.Boolean))
    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("finding_id", sa.Integer, sa.ForeignKey("findings.id", ondelete="CASCADE"), nullable=False),
        sa.Column("agent", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_by", sa.Text),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("comment", sa.Text),
    )
    op.create_index("ix_appeals_finding", "appeals", ["finding_id"])
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("finding_id", sa.Integer, sa.ForeignKey("findings.id", ondelete="CASCADE"), nullable=False),
        sa.Column("reviewer", sa.Text, nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("points", sa.Float),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("appeal_id", sa.Integer, sa.ForeignKey("appeals.id", ondelete="SET NULL")),
    )
    op.create_index("ix_reviews_finding", "reviews", ["finding_id"])


def downgrade() -> None:
    op.drop_table("reviews")
    op.drop_table("appeals")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("reviewed_fatal")
        batch.drop_column("reviewed_passed")
        batch.drop_column("reviewed_grade")
        batch.drop_column("reviewed_score")
