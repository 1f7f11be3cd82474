"""The logistics domain: aggregates, their events and invariants. Pure code: no I/O, no frameworks."""
