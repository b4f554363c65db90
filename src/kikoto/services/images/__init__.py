"""Images: manifests pushed, pulled and cached (manifests.py), the reads the OCI face makes and
features wrap (reads.py), listings and batch operations of the API (listing.py), and artifacts
the registry attaches to its images (attachments.py)."""
