"""privids.privacy."""
