"""The funding forms, by concept."""
