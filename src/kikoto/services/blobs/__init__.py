"""Blobs: reads, deletes, mounts and resumable uploads (service.py), the API's layer uploads and
download URLs (layers.py), and the streaming helpers they share (streams.py)."""
