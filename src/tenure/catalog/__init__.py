"""The catalog: markets, products, plans and prices, loaded from a file and validated at load."""
