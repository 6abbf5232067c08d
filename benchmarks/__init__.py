"""Benchmarks of the CLI, the daemon and the importer: scripts, not tests (docs/benchmarks.md).

Run each as a script (``.venv/bin/python benchmarks/delivery.py``); the modules here are
their parts, and they build workspaces through the project's own functions
(:mod:`benchmarks.workspace`) and share the peers of the tests (tests/peers.py).
"""
