"""The server-rendered web pages (Jinja2 + htmx) for customers, couriers and operators."""
