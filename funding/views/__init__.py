"""The funding pages, by concept."""
