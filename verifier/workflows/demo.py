"""``provcheck demo``: the whole flow on embedded defaults, in a temporary or given directory.

A vendor signs a release for a tiny firmware image; an operator takes in a simulated
device that runs it and passes; then a tampered device and a tampered firmware each fail,
with the reasons. Nothing here needs a compiler or a network: the firmware is an ELF
assembled below from a few hand-written x86-64 functions, and the device is the simulator
on a pty.
"""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attestations.files import write_atomic, write_private
from attestations.keys import generate_private_key, load_signer, private_pem, public_pem
from verifier.model import Report, Verdict
from verifier.policy.loading import load_policy
from verifier.workflows.intake import IntakeRequest, run_intake
from verifier.workflows.release import ReleaseRequest, sign_release

# Heavy, so imported inside the functions that use it (pyproject's TID253): hw.sim, which imports
# cryptography at module level, loaded only when the demo runs.

# --- a tiny firmware image, assembled here so the demo needs no compiler ------------------------------------

_BASE = 0x400000
_TEXT_OFFSET = 0x1000
_Code = Callable[[int, dict[str, int]], bytes]  # (own address, addresses by name) -> machine code


def _call(target: str) -> Callable[[int, dict[str, int]], bytes]:
    def encode(at: int, addresses: dict[str, int]) -> bytes:
        return b"\xe8" + struct.pack("<i", addresses[target] - (at + 5))

    return encode


def _function(*parts: bytes | Callable[[int, dict[str, int]], bytes]) -> _Code:
    def assemble(at: int, addresses: dict[str, int]) -> bytes:
        out = b""
        for part in parts:
            out += part(at + len(out), addresses) if callable(part) else part
        return out

    return assemble


_PROLOGUE = b"\x55\x48\x89\xe5"  # push rbp; mov rbp, rsp
_EPILOGUE = b"\x5d\xc3"  # pop rbp; ret


def _mov_eax(value: int) -> bytes:
    return b"\xb8" + struct.pack("<I", value)


def _firmware_functions(tampered: bool) -> list[tuple[str | None, _Code, int]]:
    """(symbol or None for a hidden one, code, size): sizes are fixed so addresses resolve in one pass."""
    start = _function(b"\x31\xed", _call("main"), b"\x89\xc7", _mov_eax(60), b"\x0f\x05")
    main = _function(_PROLOGUE, _call("read_sensor"), _call("send_report"), b"\x31\xc0", _EPILOGUE)
    send = _function(_PROLOGUE, _mov_eax(1), _EPILOGUE)
    if not tampered:
        read = _function(_PROLOGUE, _mov_eax(0x2A), _EPILOGUE)
        return [("_start", start, 16), ("main", main, 18), ("read_sensor", read, 11), ("send_report", send, 11)]
    # The backdoored build: read_sensor now calls code that no symbol declares.
    read = _function(_PROLOGUE, _call("hidden"), _mov_eax(0x2A), _EPILOGUE)
    hidden = _function(_mov_eax(0x31337), b"\xc3")
    return [
        ("_start", start, 16),
        ("main", main, 18),
        ("read_sensor", read, 16),
        ("send_report", send, 11),
        (None, hidden, 6),
    ]


def demo_firmware(*, tampered: bool = False, stripped: bool = False) -> bytes:
    """A small, deterministic x86-64 ELF executable; never executed, only analysed.

    The build has a symbol table; ``stripped`` leaves it out, as a shipped image would.
    """
    functions = _firmware_functions(tampered)
    text_addr = _BASE + _TEXT_OFFSET
    addresses: dict[str, int] = {}
    offsets: list[int] = []
    cursor = 0
    for index, (name, _, size) in enumerate(functions):
        cursor += -cursor % 16
        offsets.append(cursor)
        addresses[name or f"hidden{index}"] = text_addr + cursor
        cursor += size
    if tampered:
        addresses["hidden"] = addresses[f"hidden{len(functions) - 1}"]
    text = bytearray()
    for (_name, code, size), offset in zip(functions, offsets, strict=True):
        text += b"\xcc" * (offset - len(text))
        body = code(text_addr + offset, addresses)
        assert len(body) == size, (_name, len(body), size)
        text += body

    strtab = b"\x00"
    symbols = [b"\x00" * 24]
    for (name, _, size), offset in zip(functions, offsets, strict=True):
        if name is None:
            continue
        symbols.append(struct.pack("<IBBHQQ", len(strtab), (1 << 4) | 2, 0, 1, text_addr + offset, size))
        strtab += name.encode() + b"\x00"
    symtab = b"".join(symbols)
    shstrtab = b"\x00.text\x00.symtab\x00.strtab\x00.shstrtab\x00"

    def align(blob: bytearray) -> None:
        blob += b"\x00" * (-len(blob) % 8)

    if stripped:
        symtab, strtab = b"", b"\x00"
    image = bytearray(_TEXT_OFFSET)
    image += text
    align(image)
    symtab_at = len(image)
    image += symtab
    strtab_at = len(image)
    image += strtab
    align(image)
    shstrtab_at = len(image)
    image += shstrtab
    align(image)
    sections_at = len(image)
    ident = b"\x7fELF\x02\x01\x01" + b"\x00" * 9
    image[0:64] = struct.pack(
        "<16sHHIQQQIHHHHHH", ident, 2, 0x3E, 1, text_addr, 64, sections_at, 0, 64, 56, 1, 64, 5, 4
    )
    image[64:120] = struct.pack("<IIQQQQQQ", 1, 5, _TEXT_OFFSET, text_addr, text_addr, len(text), len(text), 0x1000)

    def section(name: int, kind: int, flags: int, addr: int, offset: int, size: int, *tail: int) -> bytes:
        link, info, alignment, entsize = tail
        return struct.pack("<IIQQQQIIQQ", name, kind, flags, addr, offset, size, link, info, alignment, entsize)

    image += section(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    image += section(1, 1, 6, text_addr, _TEXT_OFFSET, len(text), 0, 0, 16, 0)
    image += section(7, 2, 0, 0, symtab_at, len(symtab), 3, 1, 8, 24)
    image += section(15, 3, 0, 0, strtab_at, len(strtab), 0, 0, 1, 0)
    image += section(23, 3, 0, 0, shstrtab_at, len(shstrtab), 0, 0, 1, 0)
    return bytes(image)


# --- the demo itself ------------------------------------------------------------------------------------------

DEMO_POLICY = """\
# The demo's intake policy: see docs/policy.example.toml for every key.
version = 1
strict = false

[signers]
keys = ["keys/vendor.pub"]
threshold = 1

[attestations]
required = [
  "https://provcheck.dev/firmware-manifest/v1",
  "https://provcheck.dev/device-manifest/v1",
]
max_age_days = 30

[firmware]
required = true
fail = ["firmware.hidden-function", "firmware.changed-function", "firmware.constructor"]

[device]
required = true
required_fields = ["manufacturer", "model", "serial"]
component_serials = "match"
region_digests = true
require_nonce = true

[device.required_strength]
serial = "signed"
firmware_regions = "signed"

[suppliers]
blocked = ["Shady Components Ltd"]
allowed_countries = ["DE", "US", "TW", "NL"]
concentration_warning = 0.75
"""

DEMO_VENDOR = {"name": "Acme Industrial", "country": "DE"}
DEMO_COMPONENT_SUPPLIERS = {
    "flash": {"name": "Macronix", "country": "TW"},
    "nic": {"name": "Intel", "country": "US"},
    "tpm": {"name": "Infineon", "country": "DE"},
}
FIRMWARE_NAME = "rtu9-firmware.elf"
REGION_ADDRESS = 0x08000000


@dataclass(frozen=True)
class DemoCase:
    name: str
    verdict: Verdict
    expected: Verdict
    report: Report
    report_dir: Path


@dataclass(frozen=True)
class DemoResult:
    directory: Path
    cases: tuple[DemoCase, ...]

    @property
    def ok(self) -> bool:
        return all(c.verdict is c.expected for c in self.cases)


def _device_config(firmware: bytes) -> Any:
    from hw.sim import DeviceConfig, SimRegion

    return DeviceConfig(regions=(SimRegion("bootloader", REGION_ADDRESS, firmware),))


def declared_device_manifest(sim: Any) -> dict[str, Any]:
    """The simulator's honest manifest, with the vendor's supplier declarations added."""
    manifest: dict[str, Any] = sim.declared_manifest()
    manifest["supplier"] = dict(DEMO_VENDOR)
    for component in manifest.get("components", []):
        supplier = DEMO_COMPONENT_SUPPLIERS.get(component.get("class"))
        if supplier:
            component["supplier"] = dict(supplier)
    return manifest


def prepare(directory: Path) -> dict[str, Path]:
    """Keys, firmware images, device manifest and policy: everything the vendor and operator start from."""
    from hw.sim import Simulator

    (directory / "keys").mkdir(parents=True, exist_ok=True)
    (directory / "firmware").mkdir(exist_ok=True)
    paths: dict[str, Path] = {}
    for role in ("vendor", "operator"):
        signer = generate_private_key("ed25519")
        write_private(directory / "keys" / f"{role}.key", private_pem(signer), overwrite=True)
        write_atomic(directory / "keys" / f"{role}.pub", public_pem(signer.public))
        paths[f"{role}_key"] = directory / "keys" / f"{role}.key"
        paths[f"{role}_pub"] = directory / "keys" / f"{role}.pub"
    honest = demo_firmware()
    paths["firmware"] = directory / "firmware" / FIRMWARE_NAME
    write_atomic(paths["firmware"], honest)
    # The tampered image keeps the shipped name, as a swapped update file would.
    (directory / "firmware" / "tampered").mkdir(exist_ok=True)
    paths["tampered_firmware"] = directory / "firmware" / "tampered" / FIRMWARE_NAME
    write_atomic(paths["tampered_firmware"], demo_firmware(tampered=True))
    sim = Simulator("attest", config=_device_config(honest))
    paths["device_manifest"] = directory / "device-manifest.json"
    write_atomic(paths["device_manifest"], json.dumps(declared_device_manifest(sim), indent=2).encode() + b"\n")
    paths["policy"] = directory / "policy.toml"
    write_atomic(paths["policy"], DEMO_POLICY.encode())
    return paths


#: The demo policy for an SPDM responder: it proves its leaf key and measurement blocks, no console strings.
SPDM_POLICY = DEMO_POLICY.replace(
    'required_fields = ["manufacturer", "model", "serial"]', "required_fields = []"
).replace('serial = "signed"\nfirmware_regions = "signed"', 'identity_key = "signed"').replace(
    "[suppliers]", '[spdm]\nmin_version = "1.2"\nallowed_algorithms = ["ECDSA-P384", "SHA-384"]\n\n[suppliers]'
)


def _spdm_cases(
    root: Path, paths: dict[str, Path], history: Path, cases: list[DemoCase], step: int, say: Callable[[str], None]
) -> int:
    """An SPDM responder (DMTF's reference responder's twin) on MCTP over a pty: honest, then a man in the middle."""
    from hw.sim import Simulator

    spdm_root = root / "spdm"
    spdm_root.mkdir(parents=True, exist_ok=True)
    manifest = spdm_root / "device.json"
    with Simulator("spdm") as sim:
        write_atomic(manifest, (json.dumps(declared_device_manifest(sim), indent=2) + "\n").encode())
    release_dir = spdm_root / "release"
    if release_dir.exists():
        shutil.rmtree(release_dir)
    sign_release(
        ReleaseRequest(firmware=[paths["firmware"]], device_manifest=manifest, name="nic-firmware", version="1.0.0"),
        [load_signer(paths["vendor_key"])],
        release_dir,
    )
    policy_path = paths["policy"].with_name("policy-spdm.toml")  # beside the demo policy: the same key paths
    write_atomic(policy_path, SPDM_POLICY.encode())
    policy = load_policy(policy_path)
    plan = (
        ("SPDM responder, honest", "intake-spdm-honest", (), Verdict.PASS),
        ("SPDM responder, a measurement changed on the wire", "intake-spdm-tampered", ("flipped-measurement",),
         Verdict.FAIL),
    )
    for label, folder, tamper, expected in plan:
        with Simulator("spdm", tamper=tamper) as sim:
            result = run_intake(
                IntakeRequest(
                    release=release_dir,
                    policy=policy,
                    firmware=paths["firmware"],
                    port=sim.port,
                    profile="spdm",
                    timeout=20.0,
                    report_dir=root / "reports" / folder,
                    vsa_key=paths["operator_key"],
                    history_db=history,
                    label=label,
                )
            )
        report = result.report
        cases.append(DemoCase(label, report.verdict, expected, report, root / "reports" / folder))
        mark = "as expected" if report.verdict is expected else f"UNEXPECTED (expected {expected.value})"
        say(f"{step}. intake, {label}: {report.verdict.value.upper()} {mark}")
        step += 1
        for reason in report.reasons()[:8]:
            where = f" [{reason.subject}]" if reason.subject else ""
            say(f"     because {reason.check}{where}: {reason.message}")
    return step


def run_demo(directory: Path | None = None, *, say: Callable[[str], None]) -> DemoResult:
    """Run every demo case in ``directory`` (a new temporary one by default); each progress line goes to ``say``,
    which the demo command chooses (the terminal, or stderr when stdout carries JSON): a workflow never prints."""
    from hw.sim import Simulator

    root = Path(tempfile.mkdtemp(prefix="provcheck-demo-")) if directory is None else directory
    root.mkdir(parents=True, exist_ok=True)
    say(f"demo directory: {root}")
    paths = prepare(root)
    say("1. vendor keys generated: keys/vendor.key, keys/operator.key (for the verification summary)")
    say(f"2. firmware image: firmware/{FIRMWARE_NAME} ({paths['firmware'].stat().st_size} bytes, x86-64 ELF)")
    release_dir = root / "release"
    if release_dir.exists():
        shutil.rmtree(release_dir)
    signed = sign_release(
        ReleaseRequest(
            firmware=[paths["firmware"]],
            device_manifest=paths["device_manifest"],
            name="rtu9-firmware",
            version="1.0.0",
        ),
        [load_signer(paths["vendor_key"])],
        release_dir,
    )
    say(f"3. release signed: {len(signed.entries)} statements in release/{signed.bundle.name}")
    policy = load_policy(paths["policy"])
    history = root / "history.sqlite3"
    cases: list[DemoCase] = []
    honest = demo_firmware()
    plan: Sequence[tuple[str, str, tuple[str, ...], Path, Verdict]] = (
        ("honest device, honest firmware", "intake-honest", (), paths["firmware"], Verdict.PASS),
        (
            "tampered device (swapped firmware, swapped NIC)",
            "intake-tampered-device",
            ("swapped-firmware", "swapped-component"),
            paths["firmware"],
            Verdict.FAIL,
        ),
        (
            "tampered firmware file (hidden function)",
            "intake-tampered-firmware",
            (),
            paths["tampered_firmware"],
            Verdict.FAIL,
        ),
    )
    step = 4
    for label, folder, tamper, firmware, expected in plan:
        with Simulator("attest", config=_device_config(honest), tamper=tamper) as sim:
            if step == 4:
                say(f"4. simulated device (attest profile) on {sim.port}")
                step += 1
            result = run_intake(
                IntakeRequest(
                    release=release_dir,
                    policy=policy,
                    firmware=firmware,
                    port=sim.port,
                    profile="attest",
                    timeout=20.0,
                    report_dir=root / "reports" / folder,
                    vsa_key=paths["operator_key"],
                    history_db=history,
                    label=label,
                )
            )
        report = result.report
        cases.append(DemoCase(label, report.verdict, expected, report, root / "reports" / folder))
        mark = "as expected" if report.verdict is expected else f"UNEXPECTED (expected {expected.value})"
        say(f"{step}. intake, {label}: {report.verdict.value.upper()} {mark}")
        step += 1
        for reason in report.reasons()[:8]:
            where = f" [{reason.subject}]" if reason.subject else ""
            say(f"     because {reason.check}{where}: {reason.message}")
    step = _spdm_cases(root, paths, history, cases, step, say)
    say(f"{step}. reports (text, JSON, SARIF, HTML, evidence, transcript, signed VSA) are in {root / 'reports'}")
    say(f"   open {root / 'reports' / 'intake-honest' / 'report.html'} in a browser")
    say(f"   intake history: provcheck history --history-db {history} --verify")
    return DemoResult(root, tuple(cases))
