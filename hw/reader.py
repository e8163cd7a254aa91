"""``read_device``: open a port, pick or detect the profile, and return DeviceEvidence."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from hw.attest import NONCE_BYTES
from hw.console import without_escapes
from hw.errors import DeviceProtocolError, TransportError
from hw.evidence import DeviceEvidence
from hw.profile import ConsoleProfile, ProfileFacts, ReadOptions, RegionSpec
from hw.registry import AUTO, READ_CHOICES, profile_named, profiles, spelled_out
from hw.transcript import DEFAULT_CAP, Transcript
from hw.transport import Deadline, Transport, open_transport


def detect_profile(transport: Transport, *, read_timeout: float) -> ConsoleProfile:
    """Look at what the port shows (a U-Boot prompt, a login or shell), then ask each profile's probe."""
    seen = bytearray()
    # Poke with Ctrl-C, a few times: QEMU's pty, for one, takes up to a second to notice a reader.
    # Never a bare Enter while the device is unknown: U-Boot repeats the last command on an empty
    # line, and that could be anyone's 'mw' or 'erase'. Only a line that showed nothing at all gets one.
    for poke in (b"", b"\x03", b"\x03", b"\x03", b"\r"):
        if poke == b"\r" and seen:
            break
        if poke:
            transport.write(poke)
        # Wait the whole window for a first answer, then only until the line goes quiet.
        end = time.monotonic() + min(1.0, read_timeout)
        answered = False
        while time.monotonic() < end:
            chunk = transport.read(4096, 0.2 if answered else max(end - time.monotonic(), 0.01))
            if not chunk:
                if answered:
                    break
                continue
            answered = True
            seen.extend(chunk)
            del seen[:-4096]
        tail = without_escapes(bytes(seen)).rstrip(b"\x00").rstrip()[-300:] + b" "
        for profile in profiles():
            if profile.recognizes(tail):
                return profile
    for profile in profiles():
        if profile.answers_probe(transport, timeout=min(1.5, read_timeout)):
            return profile
    shown = bytes(seen[-60:]).decode("ascii", "backslashreplace")
    raise DeviceProtocolError(
        f"could not tell the device's profile (it showed {shown!r}); give --profile {spelled_out()}"
    )


def read_device(
    port_url: str,
    *,
    profile: str = AUTO,
    baud: int | None = None,
    timeout: float = 120.0,
    nonce: bytes | None = None,
    transcript_dir: Path | None = None,
    regions: Sequence[RegionSpec] = (),
    username: str | None = None,
    password: str | None = None,
    read_timeout: float | None = None,
    max_dump_bytes: int | None = None,
    prompt: str | None = None,
    transcript_cap: int = DEFAULT_CAP,
    max_output: int = 16 * 1024 * 1024,
) -> DeviceEvidence:
    """Read one device. Raises ``TransportError`` / ``DeviceProtocolError`` (both exit 3) when it cannot."""
    if profile not in READ_CHOICES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(READ_CHOICES)}")
    if profile == AUTO and port_url.startswith("spdm-emu://"):
        profile = "spdm"  # spdm-emu's socket speaks nothing else, and a console poke would break its framing
    named = None if profile == AUTO else profile_named(profile)
    if nonce is None:
        nonce = os.urandom(NONCE_BYTES)
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"the nonce must be {NONCE_BYTES} bytes")
    options = ReadOptions(
        regions=tuple(regions),
        username=username,
        password=password,
        nonce=nonce,
        baud=baud or 115200,
        read_timeout=read_timeout if read_timeout is not None else min(10.0, timeout),
        max_dump_bytes=max_dump_bytes,
        prompt=prompt,
        max_output=max_output,
    )
    deadline = Deadline(timeout)
    transcript = Transcript(transcript_cap)
    started_wall = time.time()
    transport = open_transport(port_url, baud=baud, deadline=deadline, transcript=transcript)
    facts: ProfileFacts | None = None
    chosen = profile
    try:
        reader = named or detect_profile(transport, read_timeout=options.read_timeout)
        chosen = reader.name
        facts = reader.read(transport, options, timeout)
    except (OSError, ValueError) as exc:
        raise TransportError(f"the session failed: {exc}") from exc
    finally:
        transport.close()
        summary = transcript.finish(transcript_dir, stem=f"{chosen}-{int(started_wall)}")
    total = deadline.elapsed()
    timings = {"total_seconds": round(total, 6), "device_seconds": round(facts.device_seconds, 6)}
    timings.update({f"step.{name}": seconds for name, seconds in facts.steps.items()})
    return DeviceEvidence(
        profile=reader.name,
        port=transport.url,
        identity=dict(facts.identity),
        components=tuple(facts.components),
        regions=tuple(facts.regions),
        tpm=facts.tpm,
        identity_key=facts.identity_key,
        attestation=facts.attestation,
        nonce=nonce.hex(),
        transcript={**summary.to_json(), "started": started_wall},
        timings=timings,
        notes=tuple(facts.notes),
        observable=reader.observable,
        spdm=facts.spdm,
        efivars=dict(facts.efivars),
    )
