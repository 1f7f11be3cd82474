"""The outside world behind our ports: PostgreSQL, RabbitMQ or the in-process broker, settings, tokens."""
