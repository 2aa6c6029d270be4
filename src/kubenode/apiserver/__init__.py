"""Embedded, Kubernetes-compatible API server backed by SQLite.

Generic on purpose: it knows no KubeNode kind and imports nothing above it, so
that the product code cannot tell it from a real cluster's API server.
"""
