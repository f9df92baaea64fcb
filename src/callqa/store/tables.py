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
    Column("agent", String(200)),
    Column("team", String(200)),
    Column("call_date", Date),
    Column("scored_at", DateTime(timezone=True), nullable=False),
    Column("rubric_name", String(200), nullable=False),
    Column("rubric_version", String(50), nullable=False),
    Column("rubric_sha256", String(64), nullable=False),
    Column("models", Text, nullable=False),  # JSON: {"stages": "callqa-stages 2026-12-01 3f2a…", …}
    Column("callqa_version", String(50), nullable=False),
    Column("score", Float, nullable=False),
    Column("max_score", Float, nullable=False),
    Column("grade", String(50), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("fatal", Boolean, nullable=False),
    Column("pass_mark", Float, nullable=False),
    Column("grades", Text, nullable=False),  # JSON [[name, min], …], highest first: to regrade after reviews
    # Revision 0002: the score recomputed from reviewers' decisions (NULL until a finding is reviewed).
    Column("reviewed_score", Float),
    Column("reviewed_grade", String(50)),
    Column("reviewed_passed", Boolean),
    Column("reviewed_fatal", Boolean),
    UniqueConstraint("content_sha256", "rubric_sha256", name="uq_calls_transcript_rubric"),
)
Index("ix_calls_agent", calls.c.agent)
Index("ix_calls_team", calls.c.team)
Index("ix_calls_call_date", calls.c.call_date)

call_stages = Table(
    "call_stages",
    metadata,
    Column("call_id", Integer, ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    Column("stage", String(20), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("score", Float, nullable=False),
    Column("max_score", Float, nullable=False),
)

findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", Integer, ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),  # order in the report
    Column("rule", String(200), nullable=False),
    Column("kind", String(50), nullable=False),
    Column("category", String(100), nullable=False),
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
    Column("agent", String(200)),
    Column("reason", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("resolved_by", String(200)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("comment", Text),
)
Index("ix_appeals_finding", appeals.c.finding_id)

reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("finding_id", Integer, ForeignKey("findings.id", ondelete="CASCADE"), nullable=False),
    Column("reviewer", String(200), nullable=False),
    Column("decision", String(20), nullable=False),
    Column("points", Float),
    Column("comment", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("appeal_id", Integer, ForeignKey("appeals.id", ondelete="SET NULL")),
)
Index("ix_reviews_finding", reviews.c.finding_id)
