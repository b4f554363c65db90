"""Use cases. The HTTP faces call these; none of them touches storage directly."""
