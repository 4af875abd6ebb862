"""Grant store: SQLAlchemy Core tables, Alembic migrations; SQLite (WAL) by default."""
