"""Models of the visits app; they arrive with their issue."""
