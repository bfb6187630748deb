"""privids.federated."""

__all__: list[str] = []
