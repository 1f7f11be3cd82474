"""The write side: application services that run commands on aggregates, and (later) the saga's policies."""
