"""Models of the reporting app; they arrive with their issue."""
