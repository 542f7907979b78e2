"""A faithful local copy of the JCC test gateway, for the demo and the tests."""

__all__: list[str] = []
