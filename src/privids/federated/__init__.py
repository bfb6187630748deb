"""privids.federated."""
