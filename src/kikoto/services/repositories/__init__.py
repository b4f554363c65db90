"""Repositories: finding one on the data path (lookup.py, cached) and administering them through
the API (admin.py: create, describe, delete, policies, tags, creation templates)."""
