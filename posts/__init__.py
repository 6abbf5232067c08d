"""Campaigns, posts, revisions, approvals, deliveries, the audit log and their storage.

Nothing here imports ``scheduler``: every rule lives in :mod:`posts.workflow` so that the
CLI, the daemon and any later web page enforce the same ones.
"""
