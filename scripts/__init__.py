"""Operational entry points: the `logistics` command and its subcommands."""
