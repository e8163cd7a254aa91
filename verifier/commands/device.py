"""``provcheck device``: read a device over serial, verify the evidence, run a simulated device."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hw.registry import AUTO, NAMES, READ_CHOICES
from verifier.commands.common import emit, format_option
from verifier.commands.files import write_output
from verifier.errors import BadInputError, UsageError
from verifier.model import Report
from verifier.output.sanitize import display

if TYPE_CHECKING:
    from hw.sim import Simulator
    from verifier.checks.spdm import SpdmVerdict

existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)
_STRENGTHS = ("signed", "measured", "reported")


@click.group()
def device() -> None:
    """Read, verify and simulate devices over serial."""


def _hex_nonce(value: str | None) -> bytes | None:
    if value is None:
        return None
    text = value.strip().lower().removeprefix("0x")
    if len(text) != 64 or not re.fullmatch(r"[0-9a-f]+", text):
        raise UsageError("--nonce must be 32 bytes as 64 hex digits")
    return bytes.fromhex(text)



@device.command("read")
@click.option("--port", required=True, help="pyserial URL or path: /dev/ttyUSB0, rfc2217://host:port, socket://...")
@click.option("--profile", type=click.Choice(READ_CHOICES), default=AUTO, show_default=True)
@click.option("--baud", type=click.IntRange(50, 12_000_000), default=None, help="Line speed (default 115200).")
@click.option("--timeout", type=click.FloatRange(1, 86400), default=120.0, show_default=True,
              help="Deadline for the whole session, in seconds.")
@click.option("--read-timeout", type=click.FloatRange(0.1, 3600), default=None,
              help="Longest silence tolerated from the device (default min(10, --timeout)).")
@click.option("--region", "regions", multiple=True, metavar="NAME:ADDR:SIZE|NAME=/dev/PATH[:SIZE]",
              help="A firmware region to measure (repeatable).")
@click.option("--manifest", type=existing_file, default=None, help="Take the regions to measure from this manifest.")
@click.option("--username", default=None, help="Linux login name.")
@click.option("--password-env", metavar="VAR", default=None,
              help="Linux password, from $VAR (default: $PROVCHECK_DEVICE_PASSWORD when set).")
@click.option("--ask-password", is_flag=True, help="Linux password: prompt for it (not echoed).")
@click.option("--password", "password_argument", default=None, hidden=True, expose_value=True)
@click.option("--nonce", default=None, help="32-byte hex nonce to bind signed answers to (default: fresh random).")
@click.option("--max-dump", type=click.IntRange(0, 1 << 30), default=None,
              help="Largest region (bytes) dumped with md.b and hashed here (default: from baud and deadline).")
@click.option("--prompt", default=None, help="U-Boot prompt if it is not '=> '.")
@click.option("--transcript-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the raw session transcript here.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the evidence JSON here (atomically).")
@click.option("--trust-anchor", "trust_anchors", multiple=True, type=existing_file,
              help="spdm profile: a root (PEM or DER) the slot's chain must reach, by key (repeatable).")
@click.option("--spdm-min-version", type=click.Choice(["1.1", "1.2", "1.3"]), default=None,
              help="spdm profile: the lowest SPDM version accepted (default 1.1).")
@click.option("--spdm-allow", "spdm_allow", multiple=True, metavar="ALGORITHM",
              help="spdm profile: accept only these algorithms (ECDSA-P384, SHA-384, ...; repeatable).")
@format_option()
def read_cmd(
    port: str,
    profile: str,
    baud: int | None,
    timeout: float,
    read_timeout: float | None,
    regions: tuple[str, ...],
    manifest: Path | None,
    username: str | None,
    password_env: str | None,
    ask_password: bool,
    password_argument: str | None,
    nonce: str | None,
    max_dump: int | None,
    prompt: str | None,
    transcript_dir: Path | None,
    output: Path | None,
    trust_anchors: tuple[Path, ...],
    spdm_min_version: str | None,
    spdm_allow: tuple[str, ...],
    output_format: str,
) -> int:
    """Read a device's identity and measurements over its serial line into a DeviceEvidence file.

    An SPDM responder (``--profile spdm``, on a serial port or ``spdm-emu://HOST:PORT``) is judged as it is read:
    its signatures, its chain to ``--trust-anchor``, its version and algorithms; the exit code says how it went.
    """
    from hw.profile import RegionSpec
    from hw.reader import read_device
    from verifier.workflows.spdm_read import judge_read, load_anchors, rules_from_options

    rules = rules_from_options(spdm_min_version, spdm_allow)
    anchors = load_anchors(trust_anchors)

    specs = []
    for text in regions:
        try:
            specs.append(RegionSpec.parse(text))
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    if manifest is not None:
        from verifier.declared.device_manifest import load_device_manifest

        specs += load_device_manifest(manifest).region_specs()
    password = _password(password_env, ask_password, password_argument, default_env="PROVCHECK_DEVICE_PASSWORD")
    evidence = read_device(
        port,
        profile=profile,
        baud=baud,
        timeout=timeout,
        nonce=_hex_nonce(nonce),
        transcript_dir=transcript_dir,
        regions=specs,
        username=username,
        password=password,
        read_timeout=read_timeout,
        max_dump_bytes=max_dump,
        prompt=prompt,
    )
    blob = evidence.to_bytes()
    if output is not None:
        write_output(output, blob)
        click.echo(f"provcheck: evidence written to {display(str(output))}", err=True)
    if evidence.profile == "spdm":
        report, verdict = judge_read(evidence, anchors, rules)
        if output_format == "json":
            sys.stdout.write(blob.decode())
        else:
            click.echo(_summary(evidence.to_json()))
            click.echo(_spdm_summary(verdict))
            emit(report, output_format)
        return int(report.exit_code)
    if output_format == "json":
        sys.stdout.write(blob.decode())
    else:
        click.echo(_summary(evidence.to_json()))
    return 0


def _serve_spdm_emu(
    sim: Simulator, listen: str, stop: threading.Event, write_manifest: Path | None, duration: float | None
) -> int:
    """The simulated SPDM responder on a TCP socket with spdm-emu's framing; prints its ``spdm-emu://`` URL."""
    from hw.sim.spdm import EmuServer

    if sim.profile != "spdm":
        raise UsageError("--listen serves the spdm profile only")
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit() or not host:
        raise UsageError(f"--listen {listen!r}: expected HOST:PORT")
    if write_manifest is not None:
        manifest = sim.declared_manifest()
        write_output(write_manifest, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    try:
        server = EmuServer(host=host, port=int(port_text), tamper=sim.tamper)
    except OSError as exc:
        raise UsageError(f"--listen {listen!r}: {exc.strerror or exc}") from exc
    with server:
        click.echo(server.url)
        sys.stdout.flush()
        click.echo(f"provcheck: simulated spdm responder ({', '.join(sorted(sim.tamper)) or 'honest'}) on "
                   f"{server.url}, pid {os.getpid()}", err=True)
        stop.wait(duration)
    return 0


def _spdm_summary(verdict: SpdmVerdict) -> str:
    """Version, algorithms and every measurement block, as the verifier derived them from the exchange."""
    from hw.spdm.messages import version_text

    d = display
    exchange = verdict.exchange
    if exchange is None or exchange.algorithms is None:
        return f"  SPDM exchange not usable: {d(verdict.problem)}"
    a = exchange.algorithms
    flags = ", ".join(exchange.capabilities.flag_names()) if exchange.capabilities else ""
    lines = [f"  SPDM {version_text(exchange.version)}: {a.asym_name}, {a.hash_name}, measurements "
             f"{a.measurement_hash_name}; capabilities {flags}"]
    for block in verdict.blocks:
        shown = block.value if len(block.value) <= 96 else block.value[:96] + f"... ({len(block.value) // 2} bytes)"
        lines.append(f"  {block.strength:<9} measurement {block.index:>3} {block.type_name:<34} {block.form:<6} "
                     f"{shown}")
    return "\n".join(lines)


def _password(env: str | None, ask: bool, argument: str | None, *, default_env: str | None = None) -> str | None:
    """A password from the environment or a prompt; never from the command line, where every user sees it (ps)."""
    if argument is not None:
        raise UsageError("a password on the command line is visible to every user of this machine; "
                         "use --password-env VAR (or --ask-password)")
    if env:
        value = os.environ.get(env)
        if value is None:
            raise UsageError(f"environment variable {env} (named by --password-env) is not set")
        return value
    if ask:
        prompted: str = click.prompt("password", hide_input=True, err=True)
        return prompted
    return os.environ.get(default_env) if default_env else None


def _summary(data: dict[str, Any]) -> str:
    # Every value here is what the device said about itself: escaped, so it cannot drive the terminal.
    d = display
    lines = [f"profile {d(data['profile'])} on {d(data['port'])}  "
             f"(transcript sha256 {d(data['transcript'].get('sha256', ''))})"]
    for name, fact in data["identity"].items():
        value = ", ".join(map(str, fact["value"])) if isinstance(fact["value"], list) else fact["value"]
        lines.append(f"  {d(fact['strength']):<9} {d(name):<17} {d(value)}")
    for c in data["components"]:
        lines.append(f"  {d(c['strength']):<9} component         {d(c['class'])} {d(c['manufacturer'])} "
                     f"{d(c['model'])}")
    for r in data["regions"]:
        weak = " (integrity-only)" if r["weak"] else ""
        lines.append(
            f"  {d(r['strength']):<9} region {d(r['name']):<10} {d(r['algorithm'])} {d(r['digest'])} "
            f"via {d(r['method'])}{weak}"
        )
    if data.get("identity_key"):
        key = data["identity_key"]
        lines.append(f"  {d(key['strength']):<9} identity key      sha256 {d(key['fingerprint_sha256'])}")
    if data.get("tpm"):
        tpm = data["tpm"]
        banks = ", ".join(f"{d(b)}[{len(v)}]" for b, v in tpm["pcrs"].items())
        lines.append(f"  {d(tpm['strength']):<9} tpm               PCRs {banks or 'none'}; event log "
                     f"{'yes' if tpm['event_log_b64'] else 'no'}; quote {'yes' if tpm['quote'] else 'no'}")
    for note in data["notes"]:
        lines.append(f"  note: {d(note)}")
    lines.append(f"  {data['timings'].get('total_seconds', 0):.2f} s")
    return "\n".join(lines)


def _strength_requirements(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for text in values:
        field, sep, strength = text.partition("=")
        if not sep or not field or strength not in _STRENGTHS:
            raise UsageError(f"--require {text!r}: expected FIELD=signed|measured|reported")
        out[field] = strength
    return out


@device.command("verify")
@click.option("--evidence", type=existing_file, required=True, help="DeviceEvidence JSON from 'device read'.")
@click.option("--manifest", type=existing_file, required=True,
              help="Device manifest: the predicate, a Statement or DSSE envelope carrying it, or a CycloneDX HBOM.")
@click.option("--require", "requirements", multiple=True, metavar="FIELD=STRENGTH",
              help="Demand a strength for a fact, e.g. serial=signed, regions=measured (repeatable).")
@click.option("--nonce", default=None, help="The nonce this verification issued (64 hex digits): checks freshness.")
@click.option("--strict", is_flag=True, help="Count warn and skip as fail.")
@format_option()
def verify_cmd(
    evidence: Path, manifest: Path, requirements: tuple[str, ...], nonce: str | None, strict: bool,
    output_format: str,
) -> int:
    """Compare DeviceEvidence with the device manifest; print which facts were only self-reported."""
    from hw.errors import HardwareError
    from hw.evidence import DeviceEvidence
    from verifier.checks.device import check_device, tpm_findings
    from verifier.declared.device_manifest import load_device_manifest

    required = _strength_requirements(requirements)
    expected = _hex_nonce(nonce)
    try:
        seen = DeviceEvidence.load(evidence)
    except HardwareError as exc:
        raise BadInputError(str(exc)) from exc
    declared = load_device_manifest(manifest)
    findings = check_device(seen, declared, required_strength=required, expected_nonce=expected)
    findings += tpm_findings(seen, declared, expected)
    report = Report(f"device verify ({seen.profile})", tuple(findings), strict=strict, subject=str(evidence),
                    metadata={"manifest": str(manifest), "manifest_source": declared.source})
    return emit(report, output_format)


@device.command("simulate")
@click.option("--profile", type=click.Choice(NAMES), default=NAMES[0], show_default=True)
@click.option("--tamper", "tampers", multiple=True, metavar="KIND", help="A tamper knob (repeatable); see --list.")
@click.option("--tamper-rate", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="Byte rate for drop-bytes and garble-bytes.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the line faults.")
@click.option("--baud-pacing", is_flag=True, help="Pace both directions at baud/10 bytes per second, like a UART.")
@click.option("--baud", type=click.IntRange(300, 12_000_000), default=115200, show_default=True)
@click.option("--link", type=click.Path(dir_okay=False), default=None, help="Also make a symlink to the pty here.")
@click.option("--write-manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the device manifest that the honest device satisfies.")
@click.option("--username", default=None, help="Linux profile: require this login.")
@click.option("--password-env", metavar="VAR", default=None, help="Linux profile: with the password in $VAR.")
@click.option("--password", "password_argument", default=None, hidden=True, expose_value=True)
@click.option("--duration", type=click.FloatRange(0.1, 7 * 86400), default=None,
              help="Stop after this many seconds (default: until interrupted).")
@click.option("--write-trust-anchor", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the root certificate (PEM) to trust for the simulated device.")
@click.option("--listen", default=None, metavar="HOST:PORT",
              help="spdm profile: serve spdm-emu's TCP framing here (port 0: any free port) instead of a pty.")
@click.option("--list", "list_tampers", is_flag=True, help="List the tamper knobs and exit.")
def simulate_cmd(
    profile: str,
    tampers: tuple[str, ...],
    tamper_rate: float,
    seed: int,
    baud_pacing: bool,
    baud: int,
    link: str | None,
    write_manifest: Path | None,
    username: str | None,
    password_env: str | None,
    password_argument: str | None,
    duration: float | None,
    write_trust_anchor: Path | None,
    listen: str | None,
    list_tampers: bool,
) -> int:
    """Run a simulated device on a pty and print its path; stop with Ctrl-C."""
    from hw.sim import TAMPERS, DeviceConfig, Simulator

    if list_tampers:
        for name, (profiles, what) in TAMPERS.items():
            click.echo(f"{name:<20} {'/'.join(profiles):<20} {what}")
        return 0
    config = DeviceConfig(username=username, password=_password(password_env, False, password_argument))
    try:
        sim = Simulator(profile, tamper=tampers, baud_pacing=baud_pacing, baud=baud, config=config, seed=seed,
                        tamper_rate=tamper_rate, link=link)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if write_trust_anchor is not None:
        write_output(write_trust_anchor, sim.trust_anchor_pem().encode())
    if listen is not None:
        return _serve_spdm_emu(sim, listen, stop, write_manifest, duration)
    with sim:
        if write_manifest is not None:
            manifest = sim.declared_manifest()
            write_output(write_manifest, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
        click.echo(sim.port)
        sys.stdout.flush()
        knobs = ", ".join(tampers) or "honest"
        click.echo(f"provcheck: simulated {profile} device ({knobs}) on {sim.port}"
                   + (f" -> {link}" if link else "") + f", pid {os.getpid()}", err=True)
        stop.wait(duration)
    return 0
