"""Models of the funding app; they arrive with their issue."""
