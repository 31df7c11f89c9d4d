"""Helpers for tests that drive the services over HTTP and read their topics."""
