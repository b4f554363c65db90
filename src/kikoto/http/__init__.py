"""Thin HTTP adapters: parse the request, call a service, render the response."""
