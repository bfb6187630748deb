"""privids.attacks."""

__all__: list[str] = []
