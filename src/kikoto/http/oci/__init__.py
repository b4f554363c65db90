"""The OCI Distribution face: /v2/ routes."""
