"""The audit log: who did what, when, from where.

A low-level app the others call (``from apps.audit import services as audit``;
``audit.record(...)``). It imports no other app of the project: arrows point into it.
"""
