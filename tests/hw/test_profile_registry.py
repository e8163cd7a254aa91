"""The console profiles are listed once, in hw.registry, and everything that names profiles reads that list.

Adding a profile used to mean editing six lists in five files (the reader, two ``device`` choices, ``intake``,
bench plans, the simulator) and the judge's own table of what each profile can see; one missed list made the
profile unusable there, or judged by another profile's table.
"""

from __future__ import annotations

import ast
from pathlib import Path

import click
import pytest

from hw.profile import ConsoleProfile
from hw.reader import read_device
from hw.registry import AUTO, NAMES, READ_CHOICES, by_name, profile_named, profiles
from hw.sim import SIM_PROFILES, TAMPERS, Simulator
from verifier.errors import BadInputError

ROOT = Path(__file__).resolve().parents[2]
# The code that may name profiles; tests name them freely.
SOURCE_TREES = ("hw", "verifier", "attestations", "bench", "fuzz")


def _profile_choices(command: click.Command) -> tuple[str, ...]:
    option = next(p for p in command.params if p.name == "profile")
    assert isinstance(option.type, click.Choice)
    return tuple(option.type.choices)


def test_every_cli_profile_choice_is_the_registry() -> None:
    from verifier.commands.device import device
    from verifier.commands.intake import intake

    read, simulate = device.commands["read"], device.commands["simulate"]
    assert _profile_choices(read) == READ_CHOICES == (AUTO, *NAMES)
    assert _profile_choices(intake) == READ_CHOICES
    assert _profile_choices(simulate) == NAMES


@pytest.mark.parametrize("name", READ_CHOICES)
def test_bench_plans_accept_every_registered_profile(tmp_path: Path, name: str) -> None:
    from verifier.workflows.bench import load_plan

    (tmp_path / "release").mkdir()
    (tmp_path / "policy.toml").write_text("")
    plan = tmp_path / "plan.toml"
    plan.write_text(f"version = 1\n[defaults]\nrelease = 'release'\npolicy = 'policy.toml'\nprofile = '{name}'\n"
                    "[[device]]\nname = 'a'\nport = 'loop://'\n")
    assert load_plan(plan).devices[0].profile == name


def test_bench_plans_refuse_a_profile_the_registry_does_not_know(tmp_path: Path) -> None:
    from verifier.workflows.bench import load_plan

    plan = tmp_path / "plan.toml"
    plan.write_text("version = 1\n[defaults]\nprofile = 'jtag'\n[[device]]\nname = 'a'\nport = 'x'\n")
    with pytest.raises(BadInputError, match=", ".join(READ_CHOICES)):
        load_plan(plan)


def test_the_simulator_has_a_device_for_every_registered_profile() -> None:
    assert SIM_PROFILES == NAMES
    for name in NAMES:
        sim = Simulator(name)  # not started: constructing checks the profile and builds the device's keys
        assert sim.declared_manifest()  # what the honest device satisfies (spdm declares no identity strings)
    assert all(set(profiles) <= set(NAMES) for profiles, _ in TAMPERS.values())


def test_the_reader_refuses_a_profile_the_registry_does_not_know() -> None:
    with pytest.raises(ValueError, match=", ".join(READ_CHOICES)):
        read_device("loop://", profile="jtag", timeout=1)
    with pytest.raises(ValueError, match="jtag"):
        profile_named("jtag")


def test_registered_profiles_bind_the_protocol_under_distinct_names() -> None:
    assert len(by_name()) == len(profiles()) == len(NAMES) and AUTO not in by_name()
    for name, profile in zip(NAMES, profiles(), strict=True):
        bound: ConsoleProfile = profile  # mypy checks the binding; this checks the registry holds it
        assert bound.name == name and by_name()[name] is bound


def test_a_profile_choice_does_not_import_the_bindings() -> None:
    """A command's --help lists the registry's names; the bindings (with pexpect and cobs) load when a device is
    read. A fresh interpreter shows what importing the registry alone loads."""
    import subprocess
    import sys

    probe = "import sys, hw.registry; print(sorted(m for m in ('hw.uboot', 'hw.linux', 'hw.attest', 'pexpect', "
    probe += "'cobs') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.strip() == "[]"


def _profile_lists(tree: ast.AST) -> list[int]:
    """Lines of tuple, list and set displays (and dict keys) that spell out two or more profile names."""
    names = {AUTO, *NAMES}
    found = []
    for node in ast.walk(tree):
        items: list[ast.expr | None] = []
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = list(node.elts)
        elif isinstance(node, ast.Dict):
            items = list(node.keys)
        spelled = {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)} & names
        if len(spelled) >= 2:
            found.append(node.lineno)
    return found


def test_profile_names_are_listed_nowhere_but_the_registry() -> None:
    offenders = []
    for tree in SOURCE_TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            lines = _profile_lists(ast.parse(path.read_text(), str(path)))
            offenders += [f"{path.relative_to(ROOT)}:{line}" for line in lines]
    assert offenders == [], "list profiles through hw.registry, not by hand"


def test_the_listing_check_sees_a_hand_written_list() -> None:
    assert _profile_lists(ast.parse('PROFILES = ("uboot", "linux")\nTABLE = {"attest": 1, "linux": 2}')) == [1, 2]
