"""The composition root: the one place that builds the platform's object graph from settings.

`read_side` builds the query side from adapters, queries and projections alone, so that a process serving only
reads loads nothing of the write side; `write_side` builds the four contexts' applications; `migration` owns
every table; `contexts` says how the saga's and the projections' runners are configured.
"""
