"""Reading a job's NDJSON stream: every line is checked against the contract's event schema."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chainlake.contract import problems


@dataclass
class EventLog:
    """What a job said: events in order (bad lines kept as warnings), outputs and its result."""

    events: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None

    def feed(self, line: str) -> dict[str, Any] | None:
        line = line.strip()
        if not line:
            return None
        event: dict[str, Any]
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            event = {"type": "log", "level": "warning", "message": f"not JSON: {line[:500]}"}
        found = problems("event", event)
        if found:
            event = {
                "type": "log",
                "level": "warning",
                "message": f"event refused ({found[0]}): {line[:500]}",
            }
        self.events.append(event)
        if event["type"] == "output":
            self.outputs.append({k: v for k, v in event.items() if k != "type"})
        elif event["type"] == "result":
            self.result = event
        return event

    def final_outputs(self) -> list[dict[str, Any]]:
        """The result's outputs when it lists them, else every `output` event."""
        if self.result and self.result.get("outputs"):
            return list(self.result["outputs"])
        return self.outputs
