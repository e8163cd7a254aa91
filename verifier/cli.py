"""The ``provcheck`` command line.

Subcommands live in ``verifier.commands`` and are imported only when invoked,
so ``provcheck --help`` never loads lief, sigstore or in-toto.
"""

from __future__ import annotations

import errno
import importlib
import logging
import sys
import traceback
from typing import Any

import click

from verifier import __version__
from verifier.model import ExitCode
from verifier.output.sanitize import SanitisingFormatter, display

# name -> (module:attribute, one-line help shown by ``provcheck --help``)
_COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("verifier.commands.demo:demo", "Run the whole flow end to end on the embedded defaults."),
    "keys": ("verifier.commands.keys:keys", "Generate signing keys."),
    "attest": ("verifier.commands.attest:attest", "Sign and verify in-toto / Sigstore attestations."),
    "firmware": ("verifier.commands.firmware:firmware", "Inventory, scan and diff firmware images."),
    "device": ("verifier.commands.device:device", "Read, verify and simulate devices over serial."),
    "tpm": ("verifier.commands.tpm:tpm", "Verify TPM 2.0 quotes and replay event logs."),
    "measure": ("verifier.commands.measure:measure", "Record reference measurements from a known-good boot."),
    "release": ("verifier.commands.release:release", "Assemble and sign a vendor release."),
    "intake": ("verifier.commands.intake:intake", "Verify a device and its firmware against a release."),
    "bench": ("verifier.commands.bench:bench", "Run a lab plan over many devices."),
    "history": ("verifier.commands.history:history", "List and verify the intake history."),
    "checks": ("verifier.commands.checks:checks", "List every check id provcheck can emit."),
    "corim": ("verifier.commands.corim:corim", "Show and verify CoRIM / CoMID reference values."),
    "review": ("verifier.commands.review:review", "Verify OCP S.A.F.E. short-form security review reports."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, _, attr = entry[0].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                # The command is declared in the contract but not built yet.
                return _not_available(cmd_name, entry[1])
            raise
        command: click.Command = getattr(module, attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help from the static table keeps --help from importing every command.
        rows = [(name, help_text) for name, (_, help_text) in sorted(_COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _not_available(name: str, help_text: str) -> click.Command:
    def run() -> None:
        raise click.UsageError(f"'provcheck {name}' is not available in this version")

    return click.Command(name, callback=run, help=help_text)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="provcheck")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.option("-v", "--verbose", count=True, help="More log lines on stderr (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: int) -> None:
    """provcheck: is this device, and the firmware on it, exactly what its vendor declared?

    Exit codes: 0 verified, 1 verification failed, 2 usage error or bad input,
    3 inconclusive (timeout, transport error, missing evidence).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = logging.DEBUG if verbose > 1 or debug else logging.INFO if verbose == 1 else logging.WARNING

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SanitisingFormatter("provcheck: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def _one_line(exc: BaseException | str) -> str:
    text = exc if isinstance(exc, str) else (str(exc).strip() or exc.__class__.__name__)
    # Error text quotes file names and device output: escaped, so it cannot drive the terminal.
    return display(" ".join(text.split()), limit=2000)


_ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


def _exit_code_of(exc: BaseException) -> int | None:
    code = getattr(exc, "exit_code", None)
    if isinstance(code, int) and code in (1, 2, 3):
        return code
    return None


def _take_debug(args: list[str]) -> tuple[bool, list[str]]:
    """Whether ``--debug`` appears anywhere before ``--``, and the arguments with it moved to the front.

    ``--debug`` is a global flag, but users write it after the subcommand too; there click would refuse
    it as an unknown option of the subcommand. Moving it keeps one meaning wherever it is written.
    """
    cut = args.index("--") if "--" in args else len(args)
    rest = [arg for arg in args[:cut] if arg != "--debug"] + args[cut:]
    debug = len(rest) != len(args)
    return debug, (["--debug", *rest] if debug else rest)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the CLI and maps every error to one line and an exit code.

    ``--debug`` adds the traceback before that line; the exit code is the same with or without it.
    """
    debug, args = _take_debug(list(sys.argv[1:] if argv is None else argv))

    def traceback_if_debug() -> None:
        if debug:
            traceback.print_exc(file=sys.stderr)

    try:
        result: Any = cli.main(args=args, prog_name="provcheck", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        traceback_if_debug()
        click.echo("provcheck: interrupted", err=True)
        sys.exit(ExitCode.INCONCLUSIVE)
    except click.ClickException as exc:
        traceback_if_debug()
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        click.echo(f"provcheck: error: {_one_line(exc.format_message())}{hint}", err=True)
        sys.exit(ExitCode.BAD_INPUT)
    except KeyboardInterrupt:
        traceback_if_debug()
        click.echo("provcheck: interrupted", err=True)
        sys.exit(ExitCode.INCONCLUSIVE)
    except Exception as exc:
        traceback_if_debug()
        code = _exit_code_of(exc)
        if code is not None:
            click.echo(f"provcheck: error: {_one_line(exc)}", err=True)
            sys.exit(code)
        if isinstance(exc, OSError):
            where = f" {_one_line(str(exc.filename))}" if exc.filename else ""
            if exc.errno in _ENVIRONMENT_ERRNOS:
                # A full or read-only disk is the environment failing, not bad input.
                click.echo(f"provcheck: error: cannot write{where}: {exc.strerror or _one_line(exc)}", err=True)
                sys.exit(ExitCode.INCONCLUSIVE)
            click.echo(f"provcheck: error: cannot read{where}: {exc.strerror or _one_line(exc)}", err=True)
            sys.exit(ExitCode.BAD_INPUT)
        if isinstance(exc, MemoryError):
            click.echo("provcheck: error: input too large to process", err=True)
            sys.exit(ExitCode.BAD_INPUT)
        click.echo(
            f"provcheck: internal error: {exc.__class__.__name__}: {_one_line(exc)} (rerun with --debug and report it)",
            err=True,
        )
        sys.exit(ExitCode.INCONCLUSIVE)
    sys.exit(int(result) if isinstance(result, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
