"""Lab bench runs: one plan, many devices, in parallel, each with its own transcript and report.

Every device is taken in by its own ``provcheck intake`` process, so a device that hangs
or a reader that crashes is contained: it is killed at its deadline and counted
inconclusive, and the others carry on. Ctrl-C kills the running intakes (by PID) and
writes the results of the devices that finished. Each finished device also gets an in-toto test-result
statement beside its reports (``bench_result.py``), signed when the bench has a key.

The plan (TOML, as strict as the policy: unknown keys are errors with their line)::

    version = 1
    [defaults]                 # every key here can be overridden per device
    release = "release"        # release directory from `provcheck release sign`
    policy = ["policy.toml"]
    firmware = "fw.bin"        # optional
    profile = "auto"
    timeout = 60
    read_timeout = 15          # optional: longest silence tolerated from the device, s
    max_dump = 1048576         # optional: largest region dumped with md.b (U-Boot), bytes
    prompt = "=> "             # optional: the U-Boot prompt
    [[device]]
    name = "slot-1"
    port = "rfc2217://127.0.0.1:7001"
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attestations.errors import AttestationError
from hw.registry import READ_CHOICES
from verifier.errors import PlanError, ProvcheckError, UsageError
from verifier.model import Finding, Report, Status, Verdict, errored, failed, passed
from verifier.policy.toml_reader import TomlReader, read_toml
from verifier.workflows.bench_result import write_test_result

if TYPE_CHECKING:
    from attestations.keys import Signer

MAX_PLAN_BYTES = 1 << 20
KILL_GRACE_SECONDS = 30.0
_SETTINGS = (
    "release",
    "policy",
    "firmware",
    "evidence",
    "profile",
    "timeout",
    "baud",
    "username",
    "password_env",
    "strict",
    "read_timeout",
    "max_dump",
    "prompt",
)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class BenchDevice:
    name: str
    port: str | None
    release: Path
    policies: tuple[Path, ...]
    firmware: Path | None = None
    evidence: Path | None = None
    profile: str = "auto"
    timeout: float = 120.0
    baud: int | None = None
    username: str | None = None
    password_env: str | None = None
    strict: bool = False
    read_timeout: float | None = None
    max_dump: int | None = None
    prompt: str | None = None

    @property
    def folder(self) -> str:
        return _SAFE_NAME.sub("_", self.name).strip("._") or "device"


@dataclass(frozen=True)
class BenchPlan:
    path: Path
    devices: tuple[BenchDevice, ...]


def _settings(r: TomlReader, table: Mapping[str, Any], where: tuple[str | int, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "release" in table:
        value = r.string(table, "release", where)
        assert value is not None
        path = Path(value).expanduser()
        out["release"] = path if path.is_absolute() else r.path.parent / path
        if not out["release"].exists():
            raise r.error((*where, "release"), f"names {value!r}, which does not exist")
    if "policy" in table:
        raw = table["policy"]
        names = [raw] if isinstance(raw, str) else r.strings(table, "policy", where)
        if not names:
            raise r.error((*where, "policy"), "names no policy file")
        out["policy"] = tuple(r.file(n, (*where, "policy")) for n in names)
    for key in ("firmware", "evidence"):
        if key in table:
            value = r.string(table, key, where)
            assert value is not None
            out[key] = r.file(value, (*where, key))
    if "profile" in table:
        profile = r.string(table, "profile", where)
        if profile not in READ_CHOICES:
            raise r.error((*where, "profile"), f"must be one of {', '.join(READ_CHOICES)}, not {profile!r}")
        out["profile"] = profile
    if "timeout" in table:
        value = table["timeout"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
            raise r.error((*where, "timeout"), "must be a number of seconds between 0 and 86400")
        out["timeout"] = float(value)
    if "baud" in table:
        out["baud"] = r.integer(table, "baud", where, minimum=50, default=None)
    if "read_timeout" in table:
        value = table["read_timeout"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.1 <= value <= 3600:
            raise r.error((*where, "read_timeout"), "must be a number of seconds between 0.1 and 3600")
        out["read_timeout"] = float(value)
    if "max_dump" in table:
        value = table["max_dump"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1 << 30:
            raise r.error((*where, "max_dump"), f"must be a number of bytes between 0 and {1 << 30}")
        out["max_dump"] = value
    for key in ("username", "password_env", "prompt"):
        if key in table:
            out[key] = r.string(table, key, where)
    if "strict" in table:
        out["strict"] = r.boolean(table, "strict", where, False)
    return out


def load_plan(path: Path) -> BenchPlan:
    """Read and check a bench plan; every problem is a PlanError (exit 2) naming the line and the key."""
    text, data = read_toml(path, what="plan", limit=MAX_PLAN_BYTES, error=PlanError)
    r = TomlReader(path, text, PlanError)
    r.table(data, (), ("version", "defaults", "device"))
    version = r.integer(data, "version", (), minimum=1, default=None)
    if version != 1:
        raise PlanError(f"{path}:1: key 'version': a plan starts with 'version = 1'")
    defaults = _settings(r, r.table(data.get("defaults", {}), ("defaults",), _SETTINGS), ("defaults",))
    raw_devices = data.get("device", [])
    if not isinstance(raw_devices, list) or not raw_devices:
        raise PlanError(f"{path}: the plan lists no [[device]]; a bench of nothing proves nothing")
    devices: list[BenchDevice] = []
    seen: dict[str, int] = {}
    ports: dict[str, str] = {}
    for index, raw in enumerate(raw_devices):
        where: tuple[str | int, ...] = ("device", index)
        table = r.table(raw, where, ("name", "port", *_SETTINGS))
        name = r.string(table, "name", where, required=True)
        assert name is not None
        port = _resolve_port(r.string(table, "port", where), path)
        merged = {**defaults, **_settings(r, table, where)}
        if port is None and "evidence" not in merged:
            raise r.error(where, "needs a 'port' (or an 'evidence' file)")
        for needed in ("release", "policy"):
            if needed not in merged:
                raise r.error(where, f"has no '{needed}', and [defaults] gives none")
        device = BenchDevice(
            name=name,
            port=port,
            release=merged["release"],
            policies=merged["policy"],
            firmware=merged.get("firmware"),
            evidence=merged.get("evidence"),
            profile=merged.get("profile", "auto"),
            timeout=merged.get("timeout", 120.0),
            baud=merged.get("baud"),
            username=merged.get("username"),
            password_env=merged.get("password_env"),
            strict=merged.get("strict", False),
            read_timeout=merged.get("read_timeout"),
            max_dump=merged.get("max_dump"),
            prompt=merged.get("prompt"),
        )
        if device.folder in seen:
            raise r.error((*where, "name"), f"{name!r} is used twice (also device {seen[device.folder] + 1})")
        seen[device.folder] = index
        shared = port is not None and not port.startswith("loop://")  # loop:// is private to each reader
        if shared and port in ports:
            # Two readers on one line garble each other: refuse rather than report noise as a verdict.
            raise r.error((*where, "port"), f"{port!r} is also the port of device {ports[port]!r}")
        if shared and port is not None:
            ports[port] = name
        devices.append(device)
    return BenchPlan(path, tuple(devices))


def _resolve_port(port: str | None, plan: Path) -> str | None:
    """A port that is a relative file path (a pty link beside the plan) is relative to the plan, like its other paths.

    URLs (rfc2217://, socket://, loop://) and absolute paths are taken as they are.
    """
    if port is None or "://" in port:
        return port
    path = Path(port).expanduser()
    return os.path.normpath(path if path.is_absolute() else plan.parent / path)


@dataclass(frozen=True)
class DeviceOutcome:
    device: BenchDevice
    report: Report
    exit_code: int
    report_dir: Path
    seconds: float
    #: The intake printed its report, so the report set in ``report_dir`` is from this run.
    reported: bool = False
    #: The device's in-toto test-result statement (bench_result.py), once written.
    test_result: Path | None = None

    @property
    def verdict(self) -> Verdict:
        return self.report.verdict


@dataclass
class BenchRun:
    plan: BenchPlan
    report_dir: Path
    outcomes: list[DeviceOutcome] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)

    def summary(self) -> Report:
        findings: list[Finding] = []
        for outcome in sorted(self.outcomes, key=lambda o: self.plan.devices.index(o.device)):
            tally = ", ".join(f"{n} {s}" for s, n in outcome.report.counts().items() if n)
            reasons = "; ".join(f"{f.check}: {f.message}" for f in outcome.report.reasons()[:3])
            text = f"{outcome.verdict.value} ({tally})" + (f": {reasons}" if reasons else "")
            maker = {Verdict.PASS: passed, Verdict.FAIL: failed, Verdict.INCONCLUSIVE: errored}[outcome.verdict]
            extra = {"test_result": str(outcome.test_result)} if outcome.test_result is not None else {}
            findings.append(
                maker("bench.device", text, outcome.device.name, report_dir=str(outcome.report_dir), **extra)
            )
        for name in self.interrupted:
            findings.append(errored("bench.device", "interrupted before it finished", name))
        counts = {v.value: sum(1 for o in self.outcomes if o.verdict is v) for v in Verdict}
        return Report(
            f"bench {self.plan.path.name}",
            tuple(findings),
            subject=str(self.plan.path),
            metadata={"verdicts": counts, "interrupted": list(self.interrupted), "report_dir": str(self.report_dir)},
        )

    def device_reports(self) -> list[Report]:
        order = {d.name: i for i, d in enumerate(self.plan.devices)}
        return [o.report for o in sorted(self.outcomes, key=lambda o: order[o.device.name])]


def report_from_json(data: Mapping[str, Any]) -> Report:
    findings = tuple(
        Finding(
            str(f["check"]),
            Status(f["status"]),
            str(f.get("message", "")),
            str(f.get("subject", "")),
            dict(f.get("evidence") or {}),
            bool(f.get("required", True)),
        )
        for f in data.get("findings", [])
    )
    return Report(
        str(data.get("title", "")),
        findings,
        bool(data.get("strict", False)),
        str(data.get("subject", "")),
        dict(data.get("metadata") or {}),
    )


class _Runner:
    """Starts and tracks the intake processes so that Ctrl-C can stop every one of them by PID."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()

    def kill_all(self) -> None:
        with self.lock:
            procs = list(self.running.values())
        for proc in procs:
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _intake_command(device: BenchDevice, report_dir: Path, options: Mapping[str, Any]) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "verifier.cli",
        "intake",
        "--release",
        str(device.release),
        "--format",
        "json",
        "--report-dir",
        str(report_dir),
        "--profile",
        device.profile,
        "--timeout",
        str(device.timeout),
    ]
    for policy in device.policies:
        cmd += ["--policy", str(policy)]
    if device.port:
        cmd += ["--port", device.port]
    if device.evidence:
        cmd += ["--evidence", str(device.evidence)]
    if device.firmware:
        cmd += ["--firmware", str(device.firmware)]
    if device.baud:
        cmd += ["--baud", str(device.baud)]
    if device.username:
        cmd += ["--username", device.username]
    if device.password_env:
        cmd += ["--password-env", device.password_env]
    if device.read_timeout is not None:
        cmd += ["--read-timeout", str(device.read_timeout)]
    if device.max_dump is not None:
        cmd += ["--max-dump", str(device.max_dump)]
    if device.prompt is not None:
        cmd += ["--prompt", device.prompt]
    if device.strict:
        cmd.append("--strict")
    if options.get("vsa_key"):
        cmd += ["--vsa-key", str(options["vsa_key"])]
    if options.get("history_db"):
        cmd += ["--history-db", str(options["history_db"])]
    if options.get("no_history"):
        cmd.append("--no-history")
    return cmd


def _run_device(device: BenchDevice, root: Path, options: Mapping[str, Any], runner: _Runner) -> DeviceOutcome | None:
    if runner.stopping.is_set():
        return None
    report_dir = root / device.folder
    report_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log_path = report_dir / "intake.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            _intake_command(device, report_dir, options),
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the bench, which stops this process group itself
        )
        with runner.lock:
            runner.running[device.name] = proc
        try:
            stdout, _ = proc.communicate(timeout=device.timeout + KILL_GRACE_SECONDS)
            killed = False
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            stdout, _ = proc.communicate()
            killed = True
        finally:
            with runner.lock:
                runner.running.pop(device.name, None)
    seconds = time.monotonic() - started
    if runner.stopping.is_set() and (killed or proc.returncode < 0):
        return None
    if killed:
        report = Report(
            device.name,
            (
                errored(
                    "bench.device",
                    f"intake did not finish within {device.timeout:g} s "
                    f"(+{KILL_GRACE_SECONDS:g} s grace) and was stopped",
                    device.name,
                ),
            ),
            subject=device.name,
        )
        return DeviceOutcome(device, report, 3, report_dir, seconds)
    try:
        data = json.loads(stdout)
        report = report_from_json(data)
        report = Report(
            report.title, report.findings, report.strict, device.name, {**report.metadata, "device_name": device.name}
        )
    except (ValueError, KeyError, TypeError):
        last = log_path.read_text(errors="replace").strip().splitlines()
        reason = last[-1] if last else f"intake exited with {proc.returncode} and no report"
        report = Report(device.name, (errored("bench.device", reason, device.name),), subject=device.name)
        return DeviceOutcome(device, report, proc.returncode, report_dir, seconds)
    return DeviceOutcome(device, report, proc.returncode, report_dir, seconds, reported=True)


def _with_test_result(outcome: DeviceOutcome, plan: BenchPlan, signer: Signer | None) -> DeviceOutcome:
    """The outcome with its test-result statement written; a statement that cannot be written makes it inconclusive."""
    try:
        path = write_test_result(
            outcome.device, outcome.report, outcome.report_dir, plan.path, signer, reported=outcome.reported
        )
    except (AttestationError, ProvcheckError, OSError) as exc:
        problem = errored("bench.device", f"its test-result statement was not written: {exc}", outcome.device.name)
        return replace(outcome, report=outcome.report.with_findings([problem]))
    return replace(outcome, test_result=path)


def run_bench(
    plan: BenchPlan,
    report_dir: Path,
    *,
    jobs: int = 4,
    options: Mapping[str, Any] | None = None,
    on_start: Callable[[BenchDevice], None] | None = None,
    on_done: Callable[[DeviceOutcome], None] | None = None,
) -> BenchRun:
    """Run every device of the plan, ``jobs`` at a time. Ctrl-C stops them and returns what finished."""
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    report_dir.mkdir(parents=True, exist_ok=True)
    run = BenchRun(plan, report_dir)
    runner = _Runner()
    opts = dict(options or {})

    def task(device: BenchDevice) -> DeviceOutcome | None:
        if on_start is not None and not runner.stopping.is_set():
            on_start(device)
        outcome = _run_device(device, report_dir, opts, runner)
        return None if outcome is None else _with_test_result(outcome, plan, opts.get("test_result_key"))

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="bench")
    futures: dict[Future[DeviceOutcome | None], BenchDevice] = {pool.submit(task, d): d for d in plan.devices}
    pending = set(futures)
    try:
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = future.result()
                if outcome is not None:
                    run.outcomes.append(outcome)
                    if on_done is not None:
                        on_done(outcome)
    except KeyboardInterrupt:
        runner.stopping.set()
        runner.kill_all()
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        finished = {o.device.name for o in run.outcomes}
        for future, device in futures.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                outcome = future.result()
                if outcome is not None and device.name not in finished:
                    run.outcomes.append(outcome)
                    finished.add(device.name)
        run.interrupted = [d.name for d in plan.devices if d.name not in finished]
        return run
    pool.shutdown(wait=True)
    return run
