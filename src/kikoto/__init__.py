"""Kikötő: a self-hosted container registry with the OCI Distribution and AWS ECR APIs."""

__version__ = "0.1.0"
