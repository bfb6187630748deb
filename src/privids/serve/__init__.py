"""privids.serve."""

__all__: list[str] = []
