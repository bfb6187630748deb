"""privids.serve."""
