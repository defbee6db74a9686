"""What the shell turns into a 400: the field that is wrong and why."""

from __future__ import annotations


class MalformedInput(ValueError):
    """Input that can never be accepted as sent; names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
