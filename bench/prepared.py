"""A fresh, migrated embedded registry (SQLite + disk) for the benchmarks that fill its
database directly (gc.py, lifecycle.py): thousands of rows in seconds instead of pushes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from kikoto.app import prepare
from kikoto.config import Settings


def fresh_registry(name: str) -> Settings:
    """Settings of a new data directory, migrated; `name` tells the admin key apart."""
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp(prefix=f"kikoto-{name}-")) / "data",
        workers=1,
        admin_access_key_id=f"AKIA{name.upper():0<16}"[:20],
        admin_secret_access_key=f"{name}-bench-secret-0123456789",
    )
    prepare(settings)  # blocking: migrations run their own event loop
    return settings
