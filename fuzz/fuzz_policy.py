"""The policy TOML: every input is a valid policy or one PolicyError naming the line and key."""

from __future__ import annotations

from pathlib import Path

import atheris

with atheris.instrument_imports(include=["verifier.policy"]):
    from verifier.errors import ProvcheckError
    from verifier.policy.loading import parse_policy

from _harness import run

WHERE = Path("fuzz.toml")


def target(data: bytes) -> None:
    parse_policy(data.decode("utf-8", errors="replace"), WHERE)


if __name__ == "__main__":
    run(target, (ProvcheckError,))
