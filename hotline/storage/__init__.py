"""Storage: SQLAlchemy 2 typed tables, the async engine, Alembic migrations."""
