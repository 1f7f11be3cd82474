"""Read-model queries and the audit log, for the query API. Never imports `commands`."""
