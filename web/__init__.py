"""The HTTP outside: Litestar apps for commands (and, later, queries and pages)."""
