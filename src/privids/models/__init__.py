"""privids.models."""
