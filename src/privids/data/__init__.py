"""privids.data."""

__all__: list[str] = []
