"""Secret values never reach stored logs or run history: every line a job prints and every
error the runner records passes through a Redactor that knows the run's secret values."""

from __future__ import annotations

import json
from typing import Any

MARK = "[REDACTED]"
MIN_LENGTH = 4  # shorter values would redact ordinary text


class Redactor:
    def __init__(self, values: list[str]) -> None:
        forms = set()
        for value in values:
            # as printed, as JSON would escape it (quotes, backslashes, non-ASCII), and each
            # line of a multi-line value (a PEM key is printed a line at a time)
            forms.update({value, json.dumps(value)[1:-1], *value.splitlines()})
        # longest first, so a secret containing another is replaced whole
        self.values = sorted({v for v in forms if len(v) >= MIN_LENGTH}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.values:
            if secret in value:
                value = value.replace(secret, MARK)
        return value

    def json(self, value: Any) -> Any:
        """The same structure with every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value
