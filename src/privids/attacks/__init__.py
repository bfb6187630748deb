"""privids.attacks."""
