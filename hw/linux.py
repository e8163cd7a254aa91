"""The Linux shell profile.

Logs in when credentials are given, then reads DMI (``/sys/class/dmi/id``), the device
tree's model and serial, network MACs, sha256 of named partitions or mtd devices, TPM
PCRs from sysfs, the binary event log (base64) and, when ``tpm2_quote`` is installed, a
quote over the PCRs with the verifier's nonce.

As with U-Boot the console has no checksum: small facts are read twice and must agree;
digests and base64 blobs are cross-checked against a sha256 the device prints beside them.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import time

from hw.console import MarkedConsole, TextConsole, prompt_at_end, without_escapes
from hw.errors import DeviceProtocolError, TransportError
from hw.evidence import Component, Fact, Observable, RegionDigest, TpmEvidence, TpmQuote
from hw.profile import ProfileFacts, ReadOptions
from hw.transport import Transport

SHELL_PROMPT = prompt_at_end(rb"[#$] ?")
LOGIN = re.compile(rb"login: ?$", re.IGNORECASE)
PASSWORD = re.compile(rb"[Pp]assword: ?$")
OUR_PROMPT = "pcsh# "
_DMI = {
    "sys_vendor": "manufacturer",
    "product_name": "model",
    "product_serial": "serial",
    "product_version": "product_version",
    "board_vendor": "board_vendor",
    "board_name": "board",
    "board_serial": "board_serial",
    "board_version": "board_revision",
}
_BLANK_DMI = {"", "to be filled by o.e.m.", "default string", "not specified", "none", "0"}
QUOTE_PCRS = "0,1,2,3,4,5,6,7"
DEFAULT_AK_HANDLE = "0x81010002"
MAX_BLOB = 4 * 1024 * 1024
EFIVARS = "/sys/firmware/efi/efivars"
_GLOBAL = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
_IMAGE_DB = "d719b2cb-3d3a-4596-a3bc-dad00e67656f"
#: The Secure Boot variables read from efivarfs (Name-GUID): mode variables, then the key databases.
SECURE_BOOT_EFIVARS = (
    *(f"{name}-{_GLOBAL}" for name in ("SecureBoot", "SetupMode", "AuditMode", "DeployedMode", "PK", "KEK")),
    f"db-{_IMAGE_DB}", f"dbx-{_IMAGE_DB}",
)
_BASE64_LINE = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_SHA256_LINE = re.compile(r"[0-9a-f]{64}\s+-")


def reach_shell(transport: Transport, options: ReadOptions) -> MarkedConsole:
    """Log in if asked, set a prompt of our own, and prove sync with a marked ``true``.

    No fixed quiet periods on the fast path: a shell that is already there costs one round trip.
    """
    probe = MarkedConsole(
        transport, prompt=SHELL_PROMPT, read_timeout=options.read_timeout, max_output=options.max_output
    )
    # A fixed prompt of our own, so prompt detection does not depend on the device's PS1.
    ours = MarkedConsole(
        transport,
        prompt=prompt_at_end(re.escape(OUR_PROMPT.encode())),
        read_timeout=options.read_timeout,
        max_output=options.max_output,
    )
    quiet = min(0.15, options.read_timeout / 4)
    seen = probe.drain(quiet=0.02, limit=0.2)
    for _ in range(4):
        transport.deadline.check("reaching the shell")
        if LOGIN.search(without_escapes(seen).rstrip()[-200:] + b" "):
            _log_in(probe, transport, options)
        transport.write(b"\x03")
        # A wide terminal keeps line editors (bash readline, busybox ash) from re-wrapping our long
        # command lines in their echo.
        transport.write(f"PS1='{OUR_PROMPT}'; stty cols 1000 2>/dev/null\r".encode())
        try:
            ours.run_ok("true", timeout=min(2.0, options.read_timeout))
        except (TransportError, DeviceProtocolError):
            transport.write(b"\r")
            seen = probe.drain(quiet=quiet, limit=min(3.0, options.read_timeout))
            continue
        return ours
    raise TransportError("no shell prompt on the line")


def _log_in(console: MarkedConsole, transport: Transport, options: ReadOptions) -> None:
    if options.username is None:
        raise DeviceProtocolError("the device asks for a login; give --username (and --password-env)")
    transport.write(options.username.encode() + b"\r")
    seen = console.drain(quiet=0.5, limit=min(5.0, options.read_timeout))
    if PASSWORD.search(without_escapes(seen).rstrip() + b" "):
        secret = (options.password or "").encode()
        # Armed before the write: the transcript records "<password redacted>", never the password.
        transport.transcript.redact(secret)
        try:
            transport.write(secret + b"\r")
            console.drain(quiet=0.8, limit=min(10.0, options.read_timeout))
        finally:
            transport.transcript.end_redaction()


class LinuxReader:
    def __init__(self, console: MarkedConsole, options: ReadOptions) -> None:
        self.console = console
        self.options = options
        self.facts = ProfileFacts(LinuxProfile.name)

    def _twice(self, command: str, timeout: float = 30.0) -> tuple[str, int]:
        first = self.console.run(command, timeout=timeout)
        second = self.console.run(command, timeout=timeout)
        self.facts.device_seconds += first.seconds + second.seconds
        if first.output != second.output or first.status != second.status:
            raise TransportError(f"'{command[:60]}' gave different output twice: the line is corrupting data")
        return first.output, first.status

    def read(self) -> ProfileFacts:
        for name, step in (
            ("dmi", self.read_dmi),
            ("device-tree", self.read_device_tree),
            ("network", self.read_macs),
            ("components", self.read_components),
            ("regions", self.read_regions),
            ("tpm", self.read_tpm),
            ("secure-boot", self.read_secure_boot),
        ):
            started = time.monotonic()
            step()
            self.facts.steps[name] = round(time.monotonic() - started, 6)
        return self.facts

    def read_dmi(self) -> None:
        names = " ".join(_DMI)
        output, _ = self._twice(
            f"for f in {names}; do printf '%s=' \"$f\"; cat /sys/class/dmi/id/$f 2>/dev/null || echo; done"
        )
        for line in output.splitlines():
            key, sep, value = line.partition("=")
            name = _DMI.get(key)
            if sep and name and value.strip().lower() not in _BLANK_DMI:
                self.facts.identity[name] = Fact(value.strip()[:256], "reported", f"/sys/class/dmi/id/{key}")

    def read_device_tree(self) -> None:
        output, _ = self._twice(
            # The shell opens a '<' redirection itself, before any 2>/dev/null: test first.
            "for f in model serial-number; do printf '%s=' \"$f\"; "
            "[ -r /proc/device-tree/$f ] && tr '\\000' ' ' < /proc/device-tree/$f; echo; done"
        )
        for line in output.splitlines():
            key, sep, value = line.partition("=")
            value = value.strip()
            if not sep or not value:
                continue
            if key == "model":
                self.facts.identity.setdefault("model", Fact(value[:256], "reported", "/proc/device-tree/model"))
            elif key == "serial-number":
                self.facts.identity.setdefault(
                    "serial", Fact(value[:256], "reported", "/proc/device-tree/serial-number")
                )

    def read_macs(self) -> None:
        output, _ = self._twice("cat /sys/class/net/*/address 2>/dev/null")
        macs = sorted(
            {
                line.strip().lower()
                for line in output.splitlines()
                if re.fullmatch(r"(?:[0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}", line.strip())
                and line.strip() != "00:00:00:00:00:00"
            }
        )
        if macs:
            self.facts.identity["macs"] = Fact(macs, "reported", "/sys/class/net/*/address")

    def read_components(self) -> None:
        """Network controllers by PCI vendor and device id, as sysfs gives them."""
        output, _ = self._twice(
            'for d in /sys/class/net/*/device; do [ -e "$d/vendor" ] && printf \'%s %s %s %s\\n\' "${d%/device}" '
            '"$(cat $d/vendor)" "$(cat $d/device)" "$(cat $d/revision 2>/dev/null)"; done'
        )
        for line in output.splitlines():
            fields = line.split()
            if len(fields) >= 3 and all(re.fullmatch(r"0x[0-9a-fA-F]{1,8}", f) for f in fields[1:]):
                revision = fields[3].lower() if len(fields) > 3 else None
                self.facts.components.append(
                    Component("nic", fields[1].lower(), fields[2].lower(), None, revision, "reported", fields[0][:128])
                )

    def read_regions(self) -> None:
        for spec in self.options.regions:
            if spec.path is None:
                self.facts.notes.append(f"region {spec.name}: no device path, cannot measure from Linux")
                continue
            source = shlex.quote(spec.path)
            reader = f"head -c {spec.size} {source}" if spec.size else f"cat {source}"
            # One computation, printed twice: the two copies cross the line separately.
            # 'test -r' first: a pipeline's status is sha256sum's, which would happily hash nothing.
            result = self.console.run(
                f'test -r {source} && d=$({reader} | sha256sum) && echo "$d" && echo "$d"', timeout=600
            )
            self.facts.device_seconds += result.seconds
            lines = [line.split()[0] for line in result.output.splitlines() if _SHA256_LINE.fullmatch(line.strip())]
            if not result.ok or len(lines) != 2:
                self.facts.notes.append(f"region {spec.name}: sha256sum of {spec.path} failed on the device")
                continue
            if lines[0] != lines[1] or not re.fullmatch(r"[0-9a-f]{64}", lines[0]):
                raise TransportError(f"region {spec.name}: the digest arrived garbled")
            self.facts.regions.append(
                RegionDigest(spec.name, None, spec.size, "sha256", lines[0], "sha256sum", "measured", path=spec.path)
            )

    def fetch_file(self, path: str) -> bytes | None:
        """A binary file as base64, checked against the sha256 the device prints after it."""
        quoted = shlex.quote(path)
        result = self.console.run(f"test -r {quoted} && base64 {quoted} && sha256sum < {quoted}", timeout=120)
        if not result.ok:
            return None
        lines = [line.strip() for line in result.output.splitlines()]
        # Keep only what base64 and sha256sum print; anything else (a stray prompt) is not data.
        digests = [line.split()[0] for line in lines if _SHA256_LINE.fullmatch(line)]
        body = [line for line in lines if _BASE64_LINE.fullmatch(line) and not _SHA256_LINE.fullmatch(line)]
        if not digests:
            raise TransportError(f"{path}: the device's sha256 line did not arrive intact")
        declared = digests[-1]
        try:
            blob = base64.b64decode("".join(body), validate=True)
        except ValueError as exc:
            raise TransportError(f"{path} arrived garbled (bad base64)") from exc
        if len(blob) > MAX_BLOB:
            raise DeviceProtocolError(f"{path} is larger than {MAX_BLOB} bytes")
        if hashlib.sha256(blob).hexdigest() != declared:
            raise TransportError(f"{path} arrived garbled (sha256 differs from the device's)")
        return blob

    def read_secure_boot(self) -> None:
        """The Secure Boot variables as efivarfs shows them (attributes + data), each checked by its sha256."""
        if not self.console.run(f"test -d {EFIVARS}").ok:
            self.facts.notes.append(f"{EFIVARS} is absent: not booted with UEFI, or efivarfs not mounted")
            return
        for name in SECURE_BOOT_EFIVARS:
            blob = self.fetch_file(f"{EFIVARS}/{name}")
            if blob is not None:
                self.facts.efivars[name] = base64.b64encode(blob).decode()

    def read_tpm(self) -> None:
        pcrs: dict[str, dict[str, str]] = {}
        for bank in ("sha256", "sha1"):
            output, _status = self._twice(
                f"for i in $(seq 0 23); do printf '%s=' $i; cat /sys/class/tpm/tpm0/pcr-{bank}/$i 2>/dev/null "
                "|| echo; done"
            )
            values = {}
            for line in output.splitlines():
                index, sep, value = line.partition("=")
                if sep and index.isdigit() and re.fullmatch(r"[0-9A-Fa-f]{40,128}", value.strip()):
                    values[index] = value.strip().lower()
            if values:
                pcrs[bank] = values
        event_log = self.fetch_file("/sys/kernel/security/tpm0/binary_bios_measurements")
        quote = None
        ak_pem = None
        has_tools = self.console.run("command -v tpm2_quote >/dev/null 2>&1")
        if has_tools.ok and self.options.nonce is not None:
            quote, ak_pem = self.read_quote(self.options.nonce)
        elif not has_tools.ok:
            self.facts.notes.append("tpm2_quote is not installed on the device: no quote")
        if pcrs or event_log or quote:
            self.facts.tpm = TpmEvidence(
                pcrs,
                base64.b64encode(event_log).decode() if event_log else None,
                quote,
                ak_pem,
                "measured",
                "sysfs pcr-<bank>, securityfs binary_bios_measurements, tpm2_quote",
            )

    def read_quote(self, nonce: bytes) -> tuple[TpmQuote | None, str | None]:
        handle = DEFAULT_AK_HANDLE
        work = "/tmp/provcheck-quote"  # noqa: S108 - a path on the device, not on this host
        made = self.console.run(
            f"mkdir -p {work} && tpm2_quote -c {handle} -l sha256:{QUOTE_PCRS} -q {nonce.hex()} "
            f"-m {work}/msg -s {work}/sig -o {work}/pcrs -F values -g sha256 >/dev/null",
            timeout=60,
        )
        if not made.ok:
            self.facts.notes.append(f"tpm2_quote failed with status {made.status}")
            return None, None
        message = self.fetch_file(f"{work}/msg")
        signature = self.fetch_file(f"{work}/sig")
        pcr_values = self.fetch_file(f"{work}/pcrs")
        if message is None or signature is None or pcr_values is None:
            self.facts.notes.append("the quote files could not be read back")
            return None, None
        ak_pem = None
        if self.console.run(f"tpm2_readpublic -c {handle} -f pem -o {work}/ak.pem >/dev/null").ok:
            pem = self.fetch_file(f"{work}/ak.pem")
            ak_pem = pem.decode("ascii", "replace") if pem else None
        b64 = base64.b64encode
        return TpmQuote(b64(message).decode(), b64(signature).decode(), b64(pcr_values).decode()), ak_pem


def read_linux(transport: Transport, options: ReadOptions) -> ProfileFacts:
    return LinuxReader(reach_shell(transport, options), options).read()


class LinuxProfile(TextConsole):
    """The Linux shell's binding of ``hw.profile.ConsoleProfile``."""

    name = "linux"
    # Among components the shell identifies only network controllers (their PCI ids in sysfs).
    observable = Observable.of("nic")
    # What an idle Linux console shows: a getty's login prompt or a shell prompt.
    signs = re.compile(rb"login: ?$|[#$] ?$", re.IGNORECASE)

    def read(self, transport: Transport, options: ReadOptions, session_seconds: float) -> ProfileFacts:
        return read_linux(transport, options)


LINUX = LinuxProfile()
