"""Metadata storage: one SQLAlchemy Core adapter for SQLite (default) and PostgreSQL."""
