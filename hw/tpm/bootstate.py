"""What a parsed event log says about the boot: Secure Boot, keys, images, blobs, separators, command line."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from hw.tpm import eventlog as ev
from hw.tpm.eventlog import Event, EventLog

SECURE_BOOT_VARIABLES = ("PK", "KEK", "db", "dbx")


@dataclass(frozen=True)
class BootImage:
    event: Event
    kind: str  # "application" | "driver" | "runtime-driver"
    sha256: str | None  # the logged digest: the PE image's Authenticode hash
    device_path: str


@dataclass(frozen=True)
class BootFacts:
    secure_boot: bool | None  # None: the log has no SecureBoot variable event
    secure_boot_event: Event | None
    variables: dict[str, str]  # PK/KEK/db/dbx -> sha256 of the variable data (the EFI_SIGNATURE_LISTs)
    images: tuple[BootImage, ...]
    firmware_blobs: tuple[Event, ...]
    separators: dict[int, tuple[Event, ...]]
    kernel_cmdlines: tuple[tuple[Event, str], ...]


_IMAGE_KIND = {
    ev.EV_EFI_BOOT_SERVICES_APPLICATION: "application",
    ev.EV_EFI_BOOT_SERVICES_DRIVER: "driver",
    ev.EV_EFI_RUNTIME_SERVICES_DRIVER: "runtime-driver",
}
_BLOB_EVENTS = (ev.EV_POST_CODE, ev.EV_EFI_PLATFORM_FIRMWARE_BLOB, ev.EV_EFI_PLATFORM_FIRMWARE_BLOB2)


def _cmdline(event: Event) -> str | None:
    if event.type != ev.EV_IPL and event.type != 0x6:
        return None
    text = event.decoded.get("text")
    if isinstance(text, str) and text.startswith("kernel_cmdline: "):
        return text[len("kernel_cmdline: ") :]
    if event.pcr == 12 and event.type == ev.EV_IPL and len(event.data) >= 2:
        # systemd-stub measures the command line as UTF-16 into PCR 12.
        decoded = event.data.decode("utf-16-le", "replace").rstrip("\x00")
        if decoded and decoded.isprintable():
            return decoded
    return None


def boot_facts(log: EventLog) -> BootFacts:
    secure_boot: bool | None = None
    secure_event: Event | None = None
    variables: dict[str, str] = {}
    images: list[BootImage] = []
    blobs: list[Event] = []
    separators: dict[int, list[Event]] = {}
    cmdlines: list[tuple[Event, str]] = []
    for event in log.events:
        if event.type == ev.EV_EFI_VARIABLE_DRIVER_CONFIG and event.pcr == 7:
            name, data = event.decoded.get("name"), event.decoded.get("data", b"")
            if name == "SecureBoot" and isinstance(data, bytes):
                secure_boot, secure_event = data[:1] == b"\x01", event
            elif name in SECURE_BOOT_VARIABLES and isinstance(data, bytes):
                variables[str(name)] = hashlib.sha256(data).hexdigest()
        elif event.type in _IMAGE_KIND:
            digest = event.digests.get("sha256")
            images.append(BootImage(event, _IMAGE_KIND[event.type], digest.hex() if digest else None,
                                    str(event.decoded.get("device_path", ""))))
        elif event.type in _BLOB_EVENTS:
            blobs.append(event)
        elif event.type == ev.EV_SEPARATOR:
            separators.setdefault(event.pcr, []).append(event)
        line = _cmdline(event)
        if line is not None:
            cmdlines.append((event, line))
    return BootFacts(secure_boot, secure_event, variables, tuple(images), tuple(blobs),
                     {k: tuple(v) for k, v in separators.items()}, tuple(cmdlines))
