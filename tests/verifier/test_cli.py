from __future__ import annotations

import subprocess
import sys

from tests.helpers import assert_clean_error, run_cli


def test_help_lists_commands_and_exit_codes() -> None:
    result = run_cli(["--help"])
    assert result.returncode == 0
    for name in ("attest", "firmware", "device", "intake", "demo"):
        assert name in result.stdout
    assert "inconclusive" in result.stdout


def test_help_does_not_import_heavy_libraries() -> None:
    probe = (
        "import sys\n"
        "from verifier.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "names = ('lief', 'sigstore', 'in_toto', 'rich', 'cryptography', 'capstone', 'yara')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY=", out


def test_unknown_command_is_usage_error() -> None:
    assert_clean_error(run_cli(["no-such-command"]), 2)


def test_version() -> None:
    result = run_cli(["--version"])
    assert result.returncode == 0
    assert "provcheck" in result.stdout
