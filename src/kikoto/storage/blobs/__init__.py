"""Blob storage: a small port (port.py) and its adapters."""
