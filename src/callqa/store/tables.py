"""The store's tables as this callqa reads and writes them (SQLAlchemy Core). The migrations in
`migrations/versions/` make them; a test checks that a database upgraded to the head revision has
exactly these tables and columns."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

calls = Table(
    "calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("path", Text, nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("agent", Text),
    Column("team", Text),
    Column("call_date", Date),
    # The call's date, else the local day it was first scored; kept when the call is scored again.
    Column("day", Date, nullable=False),
    Column("scored_at", DateTime(timezone=True), nullable=False),
    Column("rubric_name", Text, nullable=False),
    Column("rubric_version", Text, nullable=False),
    Column("rubric_sha256", String(64), nullable=False),
    Column("models", Text, nullable=False),  # JSON: {"stages": "callqa-stages 2026-12-01 3f2a…", …}
    Column("callqa_version", Text, nullable=False),
    Column("score", Float, nullable=False),
    Column("max_score", Float, nullable=False),
    Column("grade", Text, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("fatal", Boolean, nullable=False),
    # What recomputing after a review needs of the rubric (JSON): {"pass_mark", "grades", "caps"}.
    Column("rules", Text, nullable=False),
    # Revision 0002: the score recomputed from reviewers' decisions (NULL until a finding is reviewed).
    Column("reviewed_score", Float),
    Column("reviewed_grade", Text),
    Column("reviewed_passed", Boolean),
    Column("reviewed_fatal", Boolean),
    # One row per transcript and rubric: scoring it again (after the rubric file changed too) updates it.
    UniqueConstraint("content_sha256", "rubric_name", name="uq_calls_transcript_rubric"),
)
Index("ix_calls_agent", calls.c.agent)
Index("ix_calls_team", calls.c.team)
Index("ix_calls_day", calls.c.day)

call_stages = Table(
    "call_stages",
    metadata,
    Column("call_id", Integer, ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    Column("stage", String(20), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("score", Float, nullable=False),
    Column("max_score", Float, nullable=False),
    Column("base", Float, nullable=False),  # the stage's points before scripts are credited
)

findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", Integer, ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),  # order in the report
    Column("rule", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("severity", String(20), nullable=False),
    Column("stage", String(20), nullable=False),
    Column("role", String(20)),
    Column("utterance", Integer),
    Column("line", Integer),
    Column("matched", Text, nullable=False),
    Column("said", Text),  # the utterance's words, so a reviewer can judge without the file
    Column("message", Text, nullable=False),
    Column("suggestion", Text),
    Column("points", Float, nullable=False),
    Column("nominal_points", Float, nullable=False),
    Column("max_deduct", Float),  # the rule's cap per call, for recomputing
    Column("source", String(10), nullable=False),
    Column("confidence", Float),
    Column("active", Boolean, nullable=False),
)
Index("ix_findings_call", findings.c.call_id)
Index("ix_findings_rule", findings.c.rule)

# Revision 0002.
appeals = Table(
    "appeals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("finding_id", Integer, ForeignKey("findings.id", ondelete="CASCADE"), nullable=False),
    Column("agent", Text),
    Column("reason", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("resolved_by", Text),
    Column("resolved_at", DateTime(timezone=True)),
    Column("comment", Text),
)
Index("ix_appeals_finding", appeals.c.finding_id)

reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("finding_id", Integer, ForeignKey("findings.id", ondelete="CASCADE"), nullable=False),
    Column("reviewer", Text, nullable=False),
    Column("decision", String(20), nullable=False),
    Column("points", Float),
    Column("comment", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("appeal_id", Integer, ForeignKey("appeals.id", ondelete="SET NULL")),
)
Index("ix_reviews_finding", reviews.c.finding_id)
