"""privids.features."""
