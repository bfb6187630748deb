"""privids.data."""
