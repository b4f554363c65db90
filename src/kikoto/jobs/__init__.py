"""Background jobs: garbage collection, upload expiry, lifecycle runs; one leader at a time."""
