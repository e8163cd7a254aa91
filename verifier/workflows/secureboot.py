"""``firmware secureboot``: read Secure Boot key databases from files, and judge them.

Reading happens here (bounded reads, efivarfs files grouped into one machine's view); ``verifier.firmware.secureboot``
states the facts and ``verifier.checks.secureboot`` judges them. ``describe`` turns the facts into the JSON the
report carries and the text listing shows.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attestations.files import read_limited
from hw.evidence import DeviceEvidence
from hw.tpm.eventlog import parse_event_log
from verifier.checks.secureboot import (
    SecureBootRules,
    carries_test_key,
    check_secureboot,
    measured_against_reported,
)
from verifier.errors import BadInputError, ProvcheckError, UsageError
from verifier.firmware.secureboot.certificates import iso
from verifier.firmware.secureboot.databases import (
    MAX_INPUT,
    SecureBootState,
    read_efivarfs,
    read_event_log,
    read_secureboot,
    read_store,
)
from verifier.firmware.secureboot.efivarfs import efivarfs_name
from verifier.firmware.secureboot.eventlog import variable_events
from verifier.firmware.secureboot.guids import KEY_DATABASES, MODE_VARIABLES, guid_text
from verifier.firmware.secureboot.reference import (
    DbxReference,
    TestKeyList,
    load_dbx_reference,
    load_test_keys,
    shipped_dbx_reference,
    shipped_test_keys,
)
from verifier.firmware.secureboot.varstore import STORE_GUIDS, find_stores
from verifier.model import ExitCode, Finding, Status, skipped
from verifier.policy.model import SecureBootKeyRules

MAX_EFIVARFS_FILES = 4096
#: Hash entries listed one by one up to this many per run; longer runs are counted (dbx has ~450).
LISTED_HASHES = 8


class TestKeyInImageError(ProvcheckError):
    """``release sign`` refuses an image whose Secure Boot PK or KEK is a known test key (exit 1)."""

    exit_code = ExitCode.FAILED


@dataclass(frozen=True)
class SecureBootResult:
    states: tuple[SecureBootState, ...]
    findings: tuple[Finding, ...]
    rules: SecureBootRules


def parse_time(text: str | None) -> datetime:
    """``--at``: a date (midnight UTC) or an ISO 8601 time; now when not given."""
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"--at {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _read(path: Path, what: str) -> bytes:
    return read_limited(path, limit=MAX_INPUT, what=what)


def _efivarfs_files(directory: Path) -> list[Path]:
    """The Secure Boot variables of an efivarfs directory (the rest of the machine's variables are not read)."""
    wanted = set(KEY_DATABASES) | set(MODE_VARIABLES)
    found = []
    for count, path in enumerate(sorted(directory.iterdir())):
        if count >= MAX_EFIVARFS_FILES:
            raise BadInputError(f"{directory} holds more than {MAX_EFIVARFS_FILES} entries")
        named = efivarfs_name(path.name)
        if named is not None and named[0] in wanted and path.is_file():
            found.append(path)
    if not found:
        raise BadInputError(f"{directory} holds no efivarfs Secure Boot variable (PK-8be4df61-..., db-d719b2cb-...)")
    return found


def read_states(paths: Sequence[Path]) -> list[SecureBootState]:
    """One state per store, event log, update or certificate; all efivarfs files given (or in a directory given)
    together make one machine's state."""
    states: list[SecureBootState] = []
    efivarfs: list[Path] = []
    for path in paths:
        if path.is_dir():
            efivarfs.extend(_efivarfs_files(path))
        elif efivarfs_name(path.name) is not None:
            efivarfs.append(path)
        else:
            data = _read(path, "Secure Boot input")
            states.extend(_evidence_states(path, data) if data.lstrip()[:1] == b"{" else
                          [read_secureboot(path.name, data)])
    if efivarfs:
        states.append(read_efivarfs([(p.name, _read(p, "efivarfs variable")) for p in efivarfs]))
    return states


def _evidence_states(path: Path, data: bytes) -> list[SecureBootState]:
    """A device evidence file (``provcheck device read -o``): the efivarfs variables the Linux profile read, and the
    event log's Secure Boot events when it records them (then the two are compared, as ``secureboot.pcr7-mismatch``).
    """
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BadInputError(f"{path}: not JSON device evidence ({exc})") from exc
    evidence = DeviceEvidence.from_json(document)
    states: list[SecureBootState] = []
    if evidence.efivars:
        files = [(name, base64.b64decode(value)) for name, value in evidence.efivars.items()]
        state = read_efivarfs(files)
        states.append(replace(state, source=f"{path.name} (efivarfs read over {evidence.profile})"))
    log = evidence.tpm.event_log_b64 if evidence.tpm is not None else None
    if log:
        raw = base64.b64decode(log)
        if any(e.event == "EV_EFI_VARIABLE_DRIVER_CONFIG" for e in variable_events(parse_event_log(raw), path.name)):
            states.append(read_event_log(f"{path.name} (event log)", raw))
    if not states:
        raise BadInputError(f"{path}: the device evidence holds no Secure Boot variable (efivars) nor an event log "
                            "recording them; read the device with the linux profile")
    return states


def make_rules(at: datetime, *, test_keys: Sequence[Path] = (), dbx_reference: Path | None = None,
               expected_pk: str | None = None, expected_kek: Sequence[str] | None = None,
               require_2023_ca: bool = True, forbid_test_keys: bool = True, expiring_days: int = 180,
               arch: str = "x64", quoted_pcr7: dict[str, bytes] | None = None) -> SecureBootRules:
    keys: TestKeyList = shipped_test_keys()
    for path in test_keys:
        keys = keys.extended(load_test_keys(str(path), _read(path, "test-key list")))
    reference: DbxReference = (load_dbx_reference(str(dbx_reference), _read(dbx_reference, "dbx reference"))
                               if dbx_reference is not None else shipped_dbx_reference())
    return SecureBootRules(at, keys, reference, expiring_days, arch, expected_pk,
                           tuple(expected_kek) if expected_kek is not None else None, require_2023_ca,
                           forbid_test_keys, quoted_pcr7=quoted_pcr7)


def judge_states(states: Sequence[SecureBootState], rules: SecureBootRules) -> list[Finding]:
    """Each state's findings; with one event log and a device's reported variables (efivarfs, a store), also
    whether those variables are the ones the log measured."""
    findings = [finding for state in states for finding in check_secureboot(state, rules)]
    logs = [s for s in states if s.kind == "tcg-eventlog"]
    reported = [s for s in states if s.kind in ("efivarfs", "edk2-varstore")]
    if len(logs) == 1:
        for state in reported:
            findings += measured_against_reported(logs[0], state)
    return findings


def run_secureboot(paths: Sequence[Path], rules: SecureBootRules) -> SecureBootResult:
    states = read_states(paths)
    return SecureBootResult(tuple(states), tuple(judge_states(states, rules)), rules)


def image_findings(data: bytes, name: str, rules: SecureBootRules | None = None) -> list[Finding]:
    """The Secure Boot findings of a flash image (or variable store) ``firmware scan`` reads: none when it holds no
    variable store, one optional skip when its store holds no key database (keys enrolled later), else every
    judge's. A store that does not parse is bad input, as for ``firmware secureboot``."""
    if not (b"_FVH" in data or (len(data) >= 16 and guid_text(data[:16]) in STORE_GUIDS)):
        return []
    if not find_stores(data, name):
        return []
    state = read_store(name, data)
    if not state.databases:
        return [skipped("secureboot.not-enforcing", "the image's variable store holds no Secure Boot key (PK, KEK, "
                        "db, dbx): they are enrolled later, or Secure Boot is off", name, required=False)]
    return check_secureboot(state, rules or make_rules(datetime.now(UTC)))


def _entries(state: SecureBootState, name: str) -> list[dict[str, Any]]:
    database = state.databases[name]
    out: list[dict[str, Any]] = []
    run: dict[str, Any] | None = None
    for entry in database.entries:
        if entry.certificate is not None:
            out.append({"type": entry.type, "owner": entry.owner, **entry.certificate.to_json()})
            run = None
            continue
        if run is None or (run["type"], run["owner"]) != (entry.type, entry.owner):
            run = {"type": entry.type, "owner": entry.owner, "count": 0, "values": []}
            out.append(run)
        run["count"] += 1
        if len(run["values"]) < LISTED_HASHES:
            run["values"].append(entry.digest_hex)
    return out


def describe(state: SecureBootState) -> dict[str, Any]:
    """The facts of one state as JSON: each database's entries, the mode variables, the update's signature."""
    out: dict[str, Any] = {
        "source": state.source, "kind": state.kind, "complete": state.complete,
        "databases": {name: {"guid": db.guid, "attributes": hex(db.attributes) if db.attributes is not None else None,
                             "entries": _entries(state, name)} for name, db in state.databases.items()},
        "modes": {name: value.hex() for name, value in state.modes.items()},
    }
    if state.certificates and state.kind in ("x509", "pkcs7", "auth2"):
        out["certificates"] = [c.to_json() for c in state.certificates]
    if state.update is not None:
        out["update"] = {"timestamp": state.update.timestamp, "signature": state.update.signature.to_json()}
    if state.ignored:
        out["ignored"] = list(state.ignored)
    if state.deleted:
        out["deleted_variables"] = state.deleted
    if state.events:
        out["events"] = [{"number": e.number, "event": e.event, "name": e.name, "guid": e.guid,
                          "data_len": len(e.data), "digest_matches": dict(e.digest_matches)} for e in state.events]
    return out


def evaluated_at(rules: SecureBootRules) -> str:
    return iso(rules.at)


def policy_rules(policy: SecureBootKeyRules, at: datetime | None = None) -> SecureBootRules:
    """The judges' rules from the policy's ``[secureboot]`` table (intake's firmware scan)."""
    return make_rules(at or datetime.now(UTC), dbx_reference=policy.dbx_reference, expected_pk=policy.expected_pk,
                      expected_kek=list(policy.expected_kek) or None, require_2023_ca=policy.require_2023_ca,
                      forbid_test_keys=policy.forbid_test_keys,
                      expiring_days=policy.expiring_days if policy.expiring_days is not None else 180)


def refuse_test_keys(images: Sequence[Path], *, allow: bool) -> list[Finding]:
    """The test-key findings of each release image that holds a variable store; raises ``TestKeyInImageError``
    when a PK or KEK is a known test key, unless ``allow`` (``--insecure-allow-test-keys``)."""
    found: list[Finding] = []
    for image in images:
        findings = image_findings(read_limited(image, limit=1 << 30, what="firmware image"), image.name)
        keys = [f for f in findings if f.check == "secureboot.test-key" and f.status is Status.FAIL]
        if carries_test_key(findings) and not allow:
            raise TestKeyInImageError(
                f"refusing to sign: {image.name}: {keys[0].message}; a platform shipped with it lets whoever holds "
                "that key replace PK/KEK (PKfail). Enrol your own PK, or pass --insecure-allow-test-keys for a test "
                "build")
        found.extend(keys)
    return found
