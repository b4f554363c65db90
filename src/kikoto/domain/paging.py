"""Page-size parsing for the OCI list endpoints (tags, catalog, referrers)."""

from __future__ import annotations

from .errors import RegistryError

MAX_PAGE = 10_000  # a larger `n` is clamped; the Link header then tells the client there is more


def parse_page_size(raw: str | None) -> int | None:
    """`n` query parameter: None when absent, otherwise 0..MAX_PAGE."""
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise RegistryError("PAGINATION_NUMBER_INVALID", f"n must be a non-negative integer, got {raw!r}")
    return min(int(raw), MAX_PAGE)
