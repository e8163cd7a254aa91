"""Machine-readable JSON: the report model as it is, keys sorted for stable diffs."""

from __future__ import annotations

import json

from verifier.model import Report


class JsonRenderer:
    name = "json"

    def render(self, report: Report) -> str:
        return json.dumps(report.to_json(), indent=2, sort_keys=True, default=str) + "\n"
