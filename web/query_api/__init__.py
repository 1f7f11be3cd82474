"""The query API: read models, the audit log, live push and the web pages. It only ever reads."""
