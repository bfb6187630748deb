"""privids.report."""
