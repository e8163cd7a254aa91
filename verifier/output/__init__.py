"""Output formats. Each implements ``Renderer``; ``get_renderer`` picks one by name.

Renderers are imported lazily so that ``rich`` loads only when text is rendered.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from verifier.errors import UsageError
from verifier.model import Report


class Renderer(Protocol):
    """Turns a report into the text of one output format."""

    name: str

    def render(self, report: Report) -> str: ...


_RENDERERS: dict[str, str] = {
    "text": "verifier.output.text:TextRenderer",
    "json": "verifier.output.json_format:JsonRenderer",
    "sarif": "verifier.output.sarif:SarifRenderer",
    "junit": "verifier.output.junit:JunitRenderer",
    "html": "verifier.output.html:HtmlRenderer",
    "cyclonedx": "verifier.output.cyclonedx:CycloneDxRenderer",
}


def get_renderer(name: str) -> Renderer:
    target = _RENDERERS.get(name)
    if target is None:
        raise UsageError(f"unknown output format {name!r}; choose one of {', '.join(sorted(_RENDERERS))}")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UsageError(f"output format {name!r} is not available in this build") from exc
    renderer: Renderer = getattr(module, attr)()
    return renderer
