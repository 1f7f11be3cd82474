"""The command API: takes orders, products, stock, cancellations and courier positions."""
