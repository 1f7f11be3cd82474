"""Projections: projectors that build the read models from the event streams, the outbox, and rebuilds."""
