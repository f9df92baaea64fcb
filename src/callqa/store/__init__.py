"""Remember what was scored: stored calls and findings, reviews and appeals, history and trends.

`records` holds the plain values that go in and come out (no database library needed to use them);
`database.Store` keeps them in SQLite or PostgreSQL through SQLAlchemy, its schema made by the Alembic
migrations in `migrations/`. SQLAlchemy is imported only by the commands that store or look back, so
`callqa score` without `--db` never pays for it.
"""
