"""privids.models."""

__all__: list[str] = []
