"""The intake policy: one TOML file that says what must be proven, and by whom.

Every key is documented in ``docs/policy.example.toml``. The loader is strict on
purpose: an unknown key, a wrong type or a policy that requires nothing is a
``PolicyError`` naming the file, the line and the key. Keylime once accepted an
empty allow-list as "allow everything"; here nothing is ever accepted by default.

Several policies combine with ``all_of``: every one of them must hold, and an
empty combination is an error, never a pass.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from verifier.errors import PolicyError
from verifier.model import Strength

MAX_POLICY_BYTES = 1 << 20

FIRMWARE_MANIFEST = "https://provcheck.dev/firmware-manifest/v1"
DEVICE_MANIFEST = "https://provcheck.dev/device-manifest/v1"

COMPONENT_SERIAL_MODES = ("match", "require", "ignore")
DEVICE_FIELDS = (
    "manufacturer",
    "model",
    "serial",
    "board_revision",
    "macs",
    "firmware_version",
    "components",
    "firmware_regions",
    "identity_key",
    "tpm",
)
_COUNTRY = re.compile(r"^[A-Z]{2}$")
#: Weakest first; the same names as verifier.checks.measured_boot.AK_BINDINGS.
AK_BINDINGS = ("none", "pinned", "ek", "activated")


@dataclass(frozen=True)
class SigstoreIdentity:
    """A keyless signer: the certificate identity and issuer, and the trust root to check it against."""

    identity: str
    issuer: str
    trusted_root: Path | None = None
    staging: bool = False


@dataclass(frozen=True)
class SignerRule:
    """Who may vouch for a release. ``threshold`` distinct keys must sign every statement.

    ``thresholds`` raises (or lowers) the count for one predicate type.
    """

    keys: tuple[Path, ...]
    sigstore: tuple[SigstoreIdentity, ...]
    threshold: int
    thresholds: Mapping[str, int]

    def threshold_for(self, predicate_type: str) -> int:
        return self.thresholds.get(predicate_type, self.threshold)


@dataclass(frozen=True)
class AttestationRules:
    required: frozenset[str] = frozenset()
    max_age_days: int | None = None
    builder_id: str | None = None
    source_uri: str | None = None


@dataclass(frozen=True)
class AllowedDeviation:
    """A firmware finding the operator accepts: its check id and the name it is about."""

    check: str
    name: str
    reason: str

    def matches(self, check: str, name: str) -> bool:
        return fnmatchcase(check, self.check) and (self.name == "*" or fnmatchcase(name, self.name))


@dataclass(frozen=True)
class FirmwareRules:
    required: bool = False
    fail: tuple[str, ...] = ()
    warn: tuple[str, ...] = ()
    allow: tuple[AllowedDeviation, ...] = ()


@dataclass(frozen=True)
class DeviceRules:
    required: bool = False
    required_fields: frozenset[str] = frozenset()
    required_strength: Mapping[str, Strength] = field(default_factory=dict)
    component_serials: str = "match"
    region_digests: bool = True
    require_nonce: bool = False


@dataclass(frozen=True)
class TpmRules:
    require_quote: bool = False
    require_secure_boot: bool = False
    #: What must bind the quoting AK to a real TPM: none, pinned, ek or activated (docs/tpm-trust-model.md).
    ak_binding: str = "none"
    pinned_ak_keyids: tuple[str, ...] = ()


@dataclass(frozen=True)
class SupplierRule:
    """Allowed and blocked suppliers and countries, for the vendor and everyone the manifests name.

    An empty ``allowed`` list places no restriction; a non-empty one admits only its members.
    """

    allowed: frozenset[str] = frozenset()
    blocked: frozenset[str] = frozenset()
    allowed_countries: frozenset[str] = frozenset()
    blocked_countries: frozenset[str] = frozenset()
    concentration_warning: float | None = None
    require_origin: bool = False

    def restricts(self) -> bool:
        return bool(
            self.allowed
            or self.blocked
            or self.allowed_countries
            or self.blocked_countries
            or self.concentration_warning is not None
            or self.require_origin
        )


@dataclass(frozen=True)
class Policy:
    sources: tuple[Path, ...]
    digest: str
    strict: bool
    signers: tuple[SignerRule, ...]
    attestations: AttestationRules
    firmware: FirmwareRules
    device: DeviceRules
    tpm: TpmRules
    suppliers: tuple[SupplierRule, ...]

    @property
    def name(self) -> str:
        return " + ".join(p.name for p in self.sources)

    def trusted_keys(self) -> tuple[Path, ...]:
        seen: dict[Path, None] = {}
        for rule in self.signers:
            for key in rule.keys:
                seen.setdefault(key, None)
        return tuple(seen)

    def threshold_for(self, predicate_type: str) -> int:
        return max((rule.threshold_for(predicate_type) for rule in self.signers), default=1)

    def firmware_disposition(
        self, check: str, names: Sequence[str] | None, *, nameable: bool = True
    ) -> tuple[str, tuple[AllowedDeviation, ...]]:
        """How the policy treats one firmware finding about ``names``: "allow", "fail", "warn" or "keep".

        A finding is allowed only when every name it reports is an allowed deviation for its check, and it
        reports all of them (``nameable``): a list cut short or an unnamed item is never allowed.
        """
        if names and nameable:
            used = []
            for name in names:
                deviation = next((d for d in self.firmware.allow if d.matches(check, name)), None)
                if deviation is None:
                    break
                used.append(deviation)
            else:
                return "allow", tuple(dict.fromkeys(used))
        if any(fnmatchcase(check, p) for p in self.firmware.fail):
            return "fail", ()
        if any(fnmatchcase(check, p) for p in self.firmware.warn):
            return "warn", ()
        return "keep", ()

    def requires_something(self) -> bool:
        return bool(
            self.attestations.required
            or self.firmware.required
            or self.device.required
            or self.tpm.require_quote
            or self.tpm.require_secure_boot
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": [str(p) for p in self.sources],
            "digest": {"sha256": self.digest},
            "strict": self.strict,
            "required_attestations": sorted(self.attestations.required),
            "firmware_required": self.firmware.required,
            "device_required": self.device.required,
            "tpm": {"require_quote": self.tpm.require_quote, "require_secure_boot": self.tpm.require_secure_boot},
        }


# --- locating keys in the source, for error messages ------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(#.*)?$")
_KEY_LINE = re.compile(
    r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*="""
)
_KEY_PART = re.compile(r""""([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+)""")


def _split_key(text: str) -> tuple[str, ...]:
    return tuple(next(g for g in m.groups() if g is not None) for m in _KEY_PART.finditer(text))


def _locate(text: str, path: Sequence[str | int]) -> int | None:
    """The 1-based line that defines ``path`` (table names, array indexes and keys), if it can be found."""
    want = tuple(str(p) for p in path if not isinstance(p, int))
    indexes = [p for p in path if isinstance(p, int)]
    table: tuple[str, ...] = ()
    array_counts: dict[tuple[str, ...], int] = {}
    best: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header and not _KEY_LINE.match(line):
            table = _split_key(header.group(2))
            if header.group(1) == "[[":
                array_counts[table] = array_counts.get(table, -1) + 1
                if indexes and table == want[: len(table)] and array_counts[table] != indexes[0]:
                    table = ("\x00",)  # another element of the array: never matches
                    continue
            if table == want:
                best = best or number
            continue
        key = _KEY_LINE.match(line)
        if key:
            full = table + _split_key(key.group(1))
            if full == want:
                return number
            if best is None and len(full) < len(want) and want[: len(full)] == full:
                best = number  # an inline table or array holding the key
    return best


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# --- the loader --------------------------------------------------------------------------------------------


class TomlReader:
    """Walks the parsed TOML, checking types and collecting the keys it consumed."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def error(self, where: Sequence[str | int], message: str) -> PolicyError:
        line = _locate(self.text, where) if where else None
        at = f"{self.path}:{line}" if line else f"{self.path}"
        key = f" key '{_dotted(where)}':" if where else ""
        return PolicyError(f"{at}:{key} {message}")

    def table(self, value: Any, where: tuple[str | int, ...], allowed: Iterable[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where, f"must be a table, not {_kind(value)}")
        names = list(allowed)
        for key in value:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(names)})"
                raise self.error((*where, key), f"unknown key{hint}")
        return value

    def boolean(self, table: Mapping[str, Any], key: str, where: tuple[str | int, ...], default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.error((*where, key), f"must be true or false, not {_kind(value)}")
        return value

    def integer(
        self, table: Mapping[str, Any], key: str, where: tuple[str | int, ...], *, minimum: int, default: int | None
    ) -> int | None:
        value = table.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error((*where, key), f"must be an integer, not {_kind(value)}")
        if value < minimum:
            raise self.error((*where, key), f"must be at least {minimum}, not {value}")
        return value

    def string(
        self, table: Mapping[str, Any], key: str, where: tuple[str | int, ...], *, required: bool = False
    ) -> str | None:
        if key not in table:
            if required:
                raise self.error(where, f"needs the key '{key}'")
            return None
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.error((*where, key), f"must be a non-empty string, not {_kind(value)}")
        return value

    def strings(
        self,
        table: Mapping[str, Any],
        key: str,
        where: tuple[str | int, ...],
        check: Callable[[str], str | None] | None = None,
    ) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error((*where, key), "must be a list of non-empty strings")
        if check is not None:
            for item in value:
                problem = check(item)
                if problem:
                    raise self.error((*where, key), f"{item!r}: {problem}")
        return tuple(value)

    def file(self, value: str, where: tuple[str | int, ...]) -> Path:
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.path.parent / path
        try:
            readable = path.is_file()
        except (OSError, ValueError):
            # A name too long for the filesystem or holding a NUL byte; found by fuzzing.
            readable = False
        if not readable:
            raise self.error(where, f"names {value[:200]!r}, which is not a readable file")
        return path


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _uri(value: str) -> str | None:
    return None if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", value) else "is not a URI"


def _country(value: str) -> str | None:
    return None if _COUNTRY.match(value) else "is not an ISO 3166-1 alpha-2 country code such as 'DE'"


def _check_pattern(value: str) -> str | None:
    return None if re.match(r"^[A-Za-z0-9_.*?\[\]-]+$", value) else "is not a check id or glob such as 'firmware.*'"


def _normal(name: str) -> str:
    return " ".join(name.casefold().split())


_TOP_KEYS = ("version", "strict", "signers", "attestations", "firmware", "device", "tpm", "suppliers")


def parse_policy(text: str, path: Path) -> Policy:
    """Parse policy text; ``path`` names the file in errors and anchors relative key paths."""
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise PolicyError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's tomllib gives the position only inside the message: "... (at line L, column C)".
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(found.group(1)) if found else getattr(exc, "lineno", None)
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc)) or "syntax error"
        key = ""
        if line:
            source = text.splitlines()[line - 1] if line <= len(text.splitlines()) else ""
            named = _KEY_LINE.match(source) or _HEADER.match(source)
            if named:
                key = f" key '{'.'.join(_split_key(named.group(1) if named.re is _KEY_LINE else named.group(2)))}':"
        at = f"{path}:{line}" if line else str(path)
        column = f", column {found.group(2)}" if found else ""
        raise PolicyError(f"{at}:{key} not valid TOML: {reason}{column}") from None
    except ValueError:  # tomllib's int() of a number past Python's digit limit
        raise PolicyError(f"{path}: not valid TOML: an integer with too many digits") from None
    if not data:
        raise PolicyError(f"{path}: the policy is empty; a policy that requires nothing would accept anything")
    r = TomlReader(path, text)
    r.table(data, (), _TOP_KEYS)
    version = r.integer(data, "version", (), minimum=1, default=None)
    if version is None:
        raise PolicyError(f"{path}:1: key 'version' is missing; start the policy with 'version = 1'")
    if version != 1:
        raise r.error(("version",), f"is {version}, but this provcheck reads policy version 1")

    strict = r.boolean(data, "strict", (), False)
    signers = _signers(r, data["signers"]) if "signers" in data else None
    attestations = _attestations(r, data.get("attestations", {}))
    firmware = _firmware(r, data.get("firmware", {}))
    device = _device(r, data.get("device", {}))
    tpm = _tpm(r, data.get("tpm", {}))
    suppliers = _suppliers(r, data.get("suppliers", {}))

    policy = Policy(
        sources=(path,),
        digest=hashlib.sha256(text.encode()).hexdigest(),
        strict=strict,
        signers=(signers,) if signers else (),
        attestations=attestations,
        firmware=firmware,
        device=device,
        tpm=tpm,
        suppliers=(suppliers,) if suppliers.restricts() else (),
    )
    if not policy.requires_something():
        raise PolicyError(
            f"{path}: the policy requires nothing (no attestations.required, firmware.required, device.required "
            "or tpm rules); a policy that requires nothing would accept anything"
        )
    if policy.attestations.required and not policy.signers:
        raise r.error(("attestations", "required"), "needs trusted signers: add [signers] keys or [[signers.sigstore]]")
    # A policy with no [signers] still loads (another --policy may name them, all_of keeps both), but intake
    # refuses to read a release with no trusted signer at all: nothing could be vouched for.
    return policy


def _signers(r: TomlReader, value: Any) -> SignerRule:
    where: tuple[str | int, ...] = ("signers",)
    t = r.table(value, where, ("keys", "threshold", "thresholds", "sigstore"))
    keys = tuple(r.file(k, (*where, "keys")) for k in r.strings(t, "keys", where))
    threshold = r.integer(t, "threshold", where, minimum=1, default=1)
    assert threshold is not None
    raw_thresholds = t.get("thresholds", {})
    thresholds_table = r.table(
        raw_thresholds, (*where, "thresholds"), list(raw_thresholds) if isinstance(raw_thresholds, dict) else ()
    )
    thresholds: dict[str, int] = {}
    for ptype in thresholds_table:
        problem = _uri(ptype)
        if problem:
            raise r.error((*where, "thresholds", ptype), problem)
        count = r.integer(thresholds_table, ptype, (*where, "thresholds"), minimum=1, default=None)
        assert count is not None
        thresholds[ptype] = count
    raw_sigstore = t.get("sigstore", [])
    if not isinstance(raw_sigstore, list):
        raise r.error((*where, "sigstore"), "must be an array of tables: [[signers.sigstore]]")
    identities = []
    for index, item in enumerate(raw_sigstore):
        at: tuple[str | int, ...] = (*where, "sigstore", index)
        it = r.table(item, at, ("identity", "issuer", "trusted_root", "staging"))
        identity = r.string(it, "identity", at, required=True)
        issuer = r.string(it, "issuer", at, required=True)
        root = r.string(it, "trusted_root", at)
        staging = r.boolean(it, "staging", at, False)
        if root and staging:
            raise r.error((*at, "staging"), "cannot be combined with trusted_root; choose one trust root")
        assert identity is not None and issuer is not None
        identities.append(
            SigstoreIdentity(identity, issuer, r.file(root, (*at, "trusted_root")) if root else None, staging)
        )
    if not keys and not identities:
        raise r.error(where, "names no trusted signer: add keys = [...] or a [[signers.sigstore]] identity")
    available = len(keys) + len(identities)
    for ptype, count in [("threshold", threshold), *thresholds.items()]:
        if count > available:
            key_path = (*where, "threshold") if ptype == "threshold" else (*where, "thresholds", ptype)
            raise r.error(key_path, f"asks for {count} signers but only {available} are trusted")
    return SignerRule(keys, tuple(identities), threshold, thresholds)


def _attestations(r: TomlReader, value: Any) -> AttestationRules:
    where: tuple[str | int, ...] = ("attestations",)
    t = r.table(value, where, ("required", "max_age_days", "builder_id", "source_uri"))
    return AttestationRules(
        required=frozenset(r.strings(t, "required", where, _uri)),
        max_age_days=r.integer(t, "max_age_days", where, minimum=1, default=None),
        builder_id=r.string(t, "builder_id", where),
        source_uri=r.string(t, "source_uri", where),
    )


def _firmware(r: TomlReader, value: Any) -> FirmwareRules:
    where: tuple[str | int, ...] = ("firmware",)
    t = r.table(value, where, ("required", "fail", "warn", "allow"))
    raw_allow = t.get("allow", [])
    if not isinstance(raw_allow, list):
        raise r.error((*where, "allow"), "must be an array of tables: [[firmware.allow]]")
    allow = []
    for index, item in enumerate(raw_allow):
        at: tuple[str | int, ...] = (*where, "allow", index)
        it = r.table(item, at, ("check", "name", "reason"))
        check = r.string(it, "check", at, required=True)
        name = r.string(it, "name", at, required=True)
        reason = r.string(it, "reason", at, required=True)
        assert check is not None and name is not None and reason is not None
        problem = _check_pattern(check)
        if problem:
            raise r.error((*at, "check"), f"{check!r}: {problem}")
        allow.append(AllowedDeviation(check, name, reason))
    return FirmwareRules(
        required=r.boolean(t, "required", where, False),
        fail=r.strings(t, "fail", where, _check_pattern),
        warn=r.strings(t, "warn", where, _check_pattern),
        allow=tuple(allow),
    )


def _device(r: TomlReader, value: Any) -> DeviceRules:
    where: tuple[str | int, ...] = ("device",)
    t = r.table(
        value,
        where,
        ("required", "required_fields", "required_strength", "component_serials", "region_digests", "require_nonce"),
    )

    def known_field(name: str) -> str | None:
        return None if name in DEVICE_FIELDS else f"is not a device field ({', '.join(DEVICE_FIELDS)})"

    fields = r.strings(t, "required_fields", where, known_field)
    raw_strength = t.get("required_strength", {})
    strength_table = r.table(raw_strength, (*where, "required_strength"), DEVICE_FIELDS)
    strength: dict[str, Strength] = {}
    for name, level in strength_table.items():
        try:
            strength[name] = Strength(level)
        except ValueError:
            raise r.error(
                (*where, "required_strength", name), f"must be one of signed, measured, reported, not {level!r}"
            ) from None
    mode = r.string(t, "component_serials", where) or "match"
    if mode not in COMPONENT_SERIAL_MODES:
        raise r.error(
            (*where, "component_serials"), f"must be one of {', '.join(COMPONENT_SERIAL_MODES)}, not {mode!r}"
        )
    return DeviceRules(
        required=r.boolean(t, "required", where, False),
        required_fields=frozenset(fields),
        required_strength=strength,
        component_serials=mode,
        region_digests=r.boolean(t, "region_digests", where, True),
        require_nonce=r.boolean(t, "require_nonce", where, False),
    )


def _tpm(r: TomlReader, value: Any) -> TpmRules:
    where: tuple[str | int, ...] = ("tpm",)
    t = r.table(value, where, ("require_quote", "require_secure_boot", "ak_binding", "pinned_ak_keyids"))
    binding = r.string(t, "ak_binding", where) or "none"
    if binding not in AK_BINDINGS:
        raise r.error((*where, "ak_binding"), f"must be one of {', '.join(AK_BINDINGS)}, not {binding!r}")
    pinned = tuple(k.lower() for k in r.strings(t, "pinned_ak_keyids", where, _keyid))
    if binding == "pinned" and not pinned:
        raise r.error((*where, "pinned_ak_keyids"), "ak_binding 'pinned' needs at least one pinned AK key id")
    return TpmRules(
        require_quote=r.boolean(t, "require_quote", where, False),
        require_secure_boot=r.boolean(t, "require_secure_boot", where, False),
        ak_binding=binding,
        pinned_ak_keyids=pinned,
    )


def _keyid(value: str) -> str | None:
    return None if re.fullmatch(r"[0-9a-fA-F]{64}", value) else "is not a sha256 key id (64 hex digits)"


def _suppliers(r: TomlReader, value: Any) -> SupplierRule:
    where: tuple[str | int, ...] = ("suppliers",)
    t = r.table(
        value,
        where,
        ("allowed", "blocked", "allowed_countries", "blocked_countries", "concentration_warning", "require_origin"),
    )
    share = t.get("concentration_warning")
    if share is not None:
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise r.error((*where, "concentration_warning"), "must be a share between 0 and 1, such as 0.5")
        share = float(share)
    rule = SupplierRule(
        allowed=frozenset(_normal(s) for s in r.strings(t, "allowed", where)),
        blocked=frozenset(_normal(s) for s in r.strings(t, "blocked", where)),
        allowed_countries=frozenset(r.strings(t, "allowed_countries", where, _country)),
        blocked_countries=frozenset(r.strings(t, "blocked_countries", where, _country)),
        concentration_warning=share,
        require_origin=r.boolean(t, "require_origin", where, False),
    )
    both = rule.allowed & rule.blocked
    if both:
        raise r.error((*where, "blocked"), f"lists {sorted(both)[0]!r}, which is also allowed")
    both = rule.allowed_countries & rule.blocked_countries
    if both:
        raise r.error((*where, "blocked_countries"), f"lists {sorted(both)[0]!r}, which is also allowed")
    return rule


def load_policy(path: Path) -> Policy:
    """Read and validate one policy file; every problem is a PolicyError (exit 2)."""
    try:
        if path.is_dir():
            raise PolicyError(f"{path}: is a directory, not a policy file")
        size = path.stat().st_size
        if size > MAX_POLICY_BYTES:
            raise PolicyError(f"{path}: {size} bytes is too large for a policy (limit {MAX_POLICY_BYTES})")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"{path}: no such policy file") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse_policy(text, path)


_SERIAL_ORDER = {"ignore": 0, "match": 1, "require": 2}


def all_of(policies: Sequence[Policy]) -> Policy:
    """Combine policies so that every one must hold: the strictest reading of each rule.

    Signer and supplier rules are kept side by side (each must be met); requirements are
    united; allowed firmware deviations are only those that every policy allows. An empty
    combination is an error: nothing combined is nothing required.
    """
    if not policies:
        raise PolicyError("no policy given; a combination of no policies requires nothing and would accept anything")
    if len(policies) == 1:
        return policies[0]
    first, *rest = policies
    combined = first
    for other in rest:
        allow = tuple(
            d
            for d in combined.firmware.allow
            if any((d.check, d.name) == (o.check, o.name) for o in other.firmware.allow)
        )
        strengths = dict(combined.device.required_strength)
        for name, level in other.device.required_strength.items():
            if name not in strengths or level.rank > strengths[name].rank:
                strengths[name] = level
        ages = [a for a in (combined.attestations.max_age_days, other.attestations.max_age_days) if a is not None]
        mode = max(combined.device.component_serials, other.device.component_serials, key=_SERIAL_ORDER.__getitem__)
        for attr in ("builder_id", "source_uri"):
            mine, theirs = getattr(combined.attestations, attr), getattr(other.attestations, attr)
            if mine and theirs and mine != theirs:
                raise PolicyError(
                    f"{other.sources[0]}: key 'attestations.{attr}' is {theirs!r} but {combined.sources[0]} asks for "
                    f"{mine!r}; no release can satisfy both"
                )
        combined = replace(
            combined,
            sources=combined.sources + other.sources,
            digest=hashlib.sha256((combined.digest + other.digest).encode()).hexdigest(),
            strict=combined.strict or other.strict,
            signers=combined.signers + other.signers,
            attestations=AttestationRules(
                required=combined.attestations.required | other.attestations.required,
                max_age_days=min(ages) if ages else None,
                builder_id=combined.attestations.builder_id or other.attestations.builder_id,
                source_uri=combined.attestations.source_uri or other.attestations.source_uri,
            ),
            firmware=FirmwareRules(
                required=combined.firmware.required or other.firmware.required,
                fail=combined.firmware.fail + other.firmware.fail,
                warn=combined.firmware.warn + other.firmware.warn,
                allow=allow,
            ),
            device=DeviceRules(
                required=combined.device.required or other.device.required,
                required_fields=combined.device.required_fields | other.device.required_fields,
                required_strength=strengths,
                component_serials=mode,
                region_digests=combined.device.region_digests or other.device.region_digests,
                require_nonce=combined.device.require_nonce or other.device.require_nonce,
            ),
            tpm=TpmRules(
                require_quote=combined.tpm.require_quote or other.tpm.require_quote,
                require_secure_boot=combined.tpm.require_secure_boot or other.tpm.require_secure_boot,
                # all-of: the stronger binding wins; pinned keys must satisfy every policy that pins.
                ak_binding=max(combined.tpm.ak_binding, other.tpm.ak_binding, key=AK_BINDINGS.index),
                pinned_ak_keyids=_pinned_all_of(combined.tpm.pinned_ak_keyids, other.tpm.pinned_ak_keyids),
            ),
            suppliers=combined.suppliers + other.suppliers,
        )
    return combined


def _pinned_all_of(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    if not first or not second:
        return first or second
    return tuple(k for k in first if k in second)


def load_policies(paths: Sequence[Path]) -> Policy:
    """Load every policy file and combine them with ``all_of``."""
    return all_of([load_policy(p) for p in paths])
