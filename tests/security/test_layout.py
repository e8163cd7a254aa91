"""The layout the tree promises, kept as tests: no import cycle, imports only in the allowed direction, and only the
command line prints or exits.

Each test reads the package sources as syntax trees; none runs them. Every import counts, wherever it is written (a
function body, an ``if TYPE_CHECKING:`` block): a deferred import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from tests.security.syntax import PACKAGES, REPO, dotted

#: Where the program may talk to the terminal and choose its exit code.
TERMINAL_OWNERS = ("verifier/cli.py", "verifier/commands/")

#: Known violations in folders being reorganised by issue 13. Each entry is "path:what", as the test reports it;
#: remove an entry once its folder is merged, so that the test guards it from then on.
PRINT_OR_EXIT_ALLOWED: frozenset[str] = frozenset()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))}


@cache
def syntax_tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def imported_modules(name: str) -> Iterator[tuple[str, int]]:
    """(module of this tree, line) for every import in module ``name``: ``from a import b`` names ``a.b`` when that is a
    module, else ``a``; relative imports are resolved."""
    known = modules()
    path = known[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(syntax_tree(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in known:
                    yield submodule, node.lineno
                elif base in known:
                    yield base, node.lineno


@cache
def import_graph() -> dict[str, frozenset[str]]:
    return {name: frozenset(target for target, _ in imported_modules(name) if target != name) for name in modules()}


def strongly_connected_components(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the groups of modules that import each other, directly or through others."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = lowlink[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = lowlink[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    advanced = True
                    break
                if successor in on_stack:
                    lowlink[node] = min(lowlink[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                lowlink[parent] = min(lowlink[parent], lowlink[node])
            if lowlink[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def test_the_cycle_finder_finds_a_cycle_like_containers_and_loader() -> None:
    graph = {
        "verifier.firmware.containers": frozenset({"verifier.firmware.loader", "verifier.firmware.limits"}),
        "verifier.firmware.loader": frozenset({"verifier.firmware.containers"}),
        "verifier.firmware.limits": frozenset(),
    }
    cycles = [c for c in strongly_connected_components(graph) if len(c) > 1]
    assert cycles == [["verifier.firmware.containers", "verifier.firmware.loader"]]


def test_the_import_graph_sees_function_level_and_relative_imports() -> None:
    graph = import_graph()
    # containers imported loader's parse_executable inside a function; the graph must have seen such edges.
    assert "verifier.firmware.executables" in graph["verifier.firmware.containers"]
    assert len(graph) > 50 and sum(len(edges) for edges in graph.values()) > 100


def test_no_import_cycle_anywhere() -> None:
    """verifier/firmware/containers.py and loader.py imported each other (inside functions, so it ran)."""
    cycles = [component for component in strongly_connected_components(import_graph()) if len(component) > 1]
    assert cycles == []


def imports_into(package: str, forbidden: tuple[str, ...]) -> list[str]:
    offenders = []
    for name, path in modules().items():
        if name != package and not name.startswith(package + "."):
            continue
        for target, line in imported_modules(name):
            if any(target == f or target.startswith(f + ".") for f in forbidden):
                offenders.append(f"{path.relative_to(REPO)}:{line} imports {target}")
    return offenders


@pytest.mark.parametrize("package", ["verifier.checks", "verifier.declared", "verifier.policy"])
def test_judges_declarations_and_policy_import_no_workflow_output_or_command(package: str) -> None:
    """Judges take facts and policy values and return findings; declarations and policy are read once. None of them
    may reach up into a workflow, a renderer or the command line."""
    forbidden = ("verifier.workflows", "verifier.output", "verifier.commands", "verifier.cli")
    assert imports_into(package, forbidden) == []


TERMINAL_STREAMS = {"sys.stdout", "sys.stderr", "sys.__stdout__", "sys.__stderr__"}
PRINTING_CALLS = {"print", "click.echo", "click.secho", "rich.print", "pprint.pprint", "pprint.pp"}
EXITING_CALLS = {"sys.exit", "os._exit", "exit", "quit", "os.abort"}
EXITING_NAMES = {"SystemExit", "Exit", "Abort"}  # SystemExit, and click's Exit and Abort however imported


def terminal_uses(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, what) for everything that prints or exits: print, click.echo, sys.stdout/stderr, a rich Console that
    writes to the terminal (no ``file=``), sys.exit, os._exit, SystemExit, click's exits (``ctx.exit``, Exit, Abort)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and dotted(node) in TERMINAL_STREAMS:
            yield node.lineno, dotted(node)
        elif isinstance(node, ast.Attribute) and node.attr in EXITING_NAMES:
            yield node.lineno, node.attr
        elif isinstance(node, ast.Name) and (node.id in EXITING_NAMES or node.id == "print"):
            yield node.lineno, node.id
        elif isinstance(node, ast.Call):
            name = dotted(node.func)
            exits = isinstance(node.func, ast.Attribute) and node.func.attr in {"exit", "_exit"}  # ctx.exit, too
            if name in PRINTING_CALLS or name in EXITING_CALLS or exits:
                yield node.lineno, name or "exit"
            if name.split(".")[-1] == "Console" and not any(keyword.arg == "file" for keyword in node.keywords):
                yield node.lineno, "rich Console on the terminal"
        elif isinstance(node, ast.ImportFrom) and node.module in {"click", "click.exceptions", "rich"}:
            for alias in node.names:
                if alias.name in {"echo", "secho", "print", "Exit", "Abort"}:
                    yield node.lineno, f"from {node.module} import {alias.name}"


def test_terminal_uses_are_seen() -> None:
    code = (
        "import sys, click\nprint('x')\nclick.echo('x')\nsys.stdout.write('x')\nsys.exit(1)\nraise SystemExit(2)\n"
        "ctx.exit(0)\nConsole().print('x')\nConsole(file=buffer).print('x')\nraise click.exceptions.Exit(0)\n"
        "click.get_current_context().exit(1)\n"
    )
    seen = sorted(terminal_uses(ast.parse(code)))
    assert sorted({line for line, _ in seen}) == [2, 3, 4, 5, 6, 7, 8, 10, 11]


def test_only_the_command_line_prints_or_exits() -> None:
    """Facts packages, judges, workflows and renderers return values; only verifier/cli.py and verifier/commands/ talk
    to the terminal or end the process (one place for exit codes: cli.main)."""
    found = set()
    for path in modules().values():
        relative = path.relative_to(REPO).as_posix()
        if relative.startswith(TERMINAL_OWNERS):
            continue
        for line, what in terminal_uses(syntax_tree(path)):
            found.add((relative, line, what))
    offenders = sorted(f"{path}:{line}: {what}" for path, line, what in found
                       if f"{path}:{what}" not in PRINT_OR_EXIT_ALLOWED)
    assert offenders == []
    stale = PRINT_OR_EXIT_ALLOWED - {f"{path}:{what}" for path, _, what in found}
    assert stale == set(), "remove these allowlist entries: the violation is gone"


@pytest.mark.parametrize("package", ["verifier.declared", "verifier.policy"])
def test_declarations_and_policy_import_no_judge(package: str) -> None:
    """A declaration is parsed the same whatever judges it. The one exception: the policy checks its check-id
    patterns against the catalogue, which is data (it imports nothing of the verifier), not a judge."""
    offenders = [o for o in imports_into(package, ("verifier.checks",)) if not o.endswith("imports verifier.checks")
                 and not o.endswith("imports verifier.checks.catalogue")]
    assert offenders == []


def test_the_catalogue_is_a_leaf() -> None:
    targets = [target for target, _ in imported_modules("verifier.checks.catalogue")]
    assert [target for target in targets if target.startswith("verifier")] == []


def test_firmware_facts_import_no_judge_workflow_declaration_or_policy() -> None:
    """verifier/firmware/ states facts about an image (LIEF, containers, inventory); judging them is checks/'s."""
    forbidden = ("verifier.checks", "verifier.workflows", "verifier.declared", "verifier.policy", "verifier.output",
                 "verifier.commands", "verifier.cli")
    assert imports_into("verifier.firmware", forbidden) == []
