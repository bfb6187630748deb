"""privids.evaluation."""
