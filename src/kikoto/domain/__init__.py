"""Pure domain code: no I/O, no framework imports. Everything here is testable without a server."""
