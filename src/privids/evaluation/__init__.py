"""privids.evaluation."""

__all__: list[str] = []
