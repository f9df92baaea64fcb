"""Scored calls, their stage scores and findings.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("agent", sa.Text),
        sa.Column("team", sa.Text),
        sa.Column("call_date", sa.Date),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rubric_name", sa.Text, nullable=False),
        sa.Column("rubric_version", sa.Text, nullable=False),
        sa.Column("rubric_sha256", sa.String(64), nullable=False),
        sa.Column("models", sa.Text, nullable=False),
        sa.Column("callqa_version", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.Column("grade", sa.Text, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("fatal", sa.Boolean, nullable=False),
        sa.Column("rules", sa.Text, nullable=False),
        sa.UniqueConstraint("content_sha256", "rubric_name", name="uq_calls_transcript_rubric"),
    )
    op.create_index("ix_calls_agent", "calls", ["agent"])
    op.create_index("ix_calls_team", "calls", ["team"])
    op.create_index("ix_calls_day", "calls", ["day"])
    op.create_table(
        "call_stages",
        sa.Column("call_id", sa.Integer, sa.ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("stage", sa.String(20), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.Column("base", sa.Float, nullable=False),
    )
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.Integer, sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("role", sa.String(20)),
        sa.Column("utterance", sa.Integer),
        sa.Column("line", sa.Integer),
        sa.Column("matched", sa.Text, nullable=False),
        sa.Column("said", sa.Text),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("suggestion", sa.Text),
        sa.Column("points", sa.Float, nullable=False),
        sa.Column("nominal_points", sa.Float, nullable=False),
        sa.Column("max_deduct", sa.Float),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("confidence", sa.Float),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_index("ix_findings_call", "findings", ["call_id"])
    op.create_index("ix_findings_rule", "findings", ["rule"])


def downgrade() -> None:
    op.drop_table("findings")
    op.drop_table("call_stages")
    op.drop_table("calls")
