"""Classic in-toto layouts and links (Metablock and DSSE), verified through the in-toto library, as facts.

API (in_toto and securesystemslib are imported inside the functions):

``verify_layout(layout_path, layout_keys, link_dir, *, allow_inspections=False, substitution_parameters=None)
-> VerifiedLayout``
    ``layout_keys`` are paths to PEM public keys, X.509 certificates or securesystemslib key files (JSON); the layout
    must carry a valid signature by every one of them.  Links are read from ``link_dir`` under in-toto's names
    (``STEP.KEYID8.link``; a sublayout's links in ``STEP.KEYID8/``).
``layout_inspections(layout_path) -> tuple[str, ...]``: the names of the inspections a layout (and the sublayouts in
    a link directory) would run, read without verifying or running anything.

The fact, ``VerifiedLayout``: ``metadata_format`` ("metablock" | "dsse"), ``layout_keyids``, ``expires``, ``steps``
(names, in layout order), ``step_results`` (``VerifiedStep``: name, threshold, functionaries, the keyids whose links
verified, sublayout or not), ``inspections_run``, ``final_products`` (path -> digests, from the last step or the
sublayout summary) and ``permissive_rules`` (rule lists that do not end in DISALLOW, which in-toto lets any unmatched
artifact through: worth a warning).

Inspections run commands named by the layout, in the current working directory.  Unless ``allow_inspections`` is
true, a layout (or a sublayout found in the link directory) with inspections raises ``InspectionsNotAllowedError``
before in-toto is called, so nothing runs.

Errors: ``InputError`` (missing, oversized or malformed layout, link directory or key), ``KeyFormatError`` (a key
file that is no supported key), ``InspectionsNotAllowedError`` (exit code 2: the caller must opt in), and
``LayoutVerificationError`` (exit code 1) whose ``stage`` is one of "layout-signature", "expired", "link-missing",
"link-signature", "threshold", "rule", "inspection", and whose ``step``, ``rule`` and ``artifacts`` say what failed.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from attestations import strict_json
from attestations.errors import AttestationError, InputError, KeyFormatError
from attestations.files import read_limited
from attestations.keys import parse_public_keys, securesystemslib_keyid

# Heavy, so imported inside the functions that use it: in_toto and securesystemslib (~140 ms),
# loaded only when a layout is verified.

MAX_LAYOUT_BYTES = 16 * 1024 * 1024
MAX_LINK_BYTES = 16 * 1024 * 1024
MAX_KEY_BYTES = 1024 * 1024
_MAX_SUBLAYOUT_DEPTH = 8


class LayoutVerificationError(AttestationError):
    """The layout or its links were checked and do not verify."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        stage: str,
        step: str | None = None,
        rule: str | None = None,
        artifacts: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.stage = stage
        self.step = step
        self.rule = rule
        self.artifacts = tuple(artifacts)


class InspectionsNotAllowedError(AttestationError):
    """The layout has inspections (commands to run) and running them was not allowed."""

    def __init__(self, message: str, *, inspections: Sequence[str]) -> None:
        super().__init__(message)
        self.inspections = tuple(inspections)


@dataclass(frozen=True)
class VerifiedStep:
    """One step of the layout: who may perform it, how many must, and whose links verified."""

    name: str
    threshold: int
    functionaries: tuple[str, ...]
    verified_by: tuple[str, ...]
    sublayout: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "threshold": self.threshold,
            "functionaries": list(self.functionaries),
            "verified_by": list(self.verified_by),
            "sublayout": self.sublayout,
        }


@dataclass(frozen=True)
class VerifiedLayout:
    """A layout whose signatures, expiry, links, thresholds and artifact rules all verified."""

    layout_path: str
    metadata_format: Literal["metablock", "dsse"]
    layout_keyids: tuple[str, ...]
    expires: str
    steps: tuple[str, ...]
    step_results: tuple[VerifiedStep, ...]
    inspections_run: tuple[str, ...]
    final_products: Mapping[str, Mapping[str, str]]
    permissive_rules: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "layout": self.layout_path,
            "format": self.metadata_format,
            "layout_keyids": list(self.layout_keyids),
            "expires": self.expires,
            "steps": [step.to_json() for step in self.step_results],
            "inspections_run": list(self.inspections_run),
            "final_products": {name: dict(digests) for name, digests in self.final_products.items()},
            "permissive_rules": list(self.permissive_rules),
        }


def _load_metadata(path: Path, what: str, limit: int) -> Any:
    """An in-toto Metadata (Metablock or DSSE Envelope) read with a size bound."""
    from in_toto.models.metadata import Metadata
    from securesystemslib.exceptions import Error as SslibError

    raw = read_limited(path, limit=limit, what=what)
    # Strict: in-toto's library reads the parsed object, so a duplicate key would be settled by the parser.
    obj = strict_json.loads_object(raw, f"{what} {path}")
    try:
        metadata = Metadata.from_dict(obj)
        payload = metadata.get_payload()
    except (SslibError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InputError(f"{what} {path} is not in-toto metadata: {_one_line(exc)}") from None
    except Exception as exc:
        # in_toto.exceptions.InvalidMetadata and friends derive from securesystemslib's or the library's own root.
        if exc.__class__.__module__.startswith(("in_toto", "securesystemslib")):
            raise InputError(
                f"{what} {path} is not in-toto metadata: {_one_line(exc) or exc.__class__.__name__}"
            ) from None
        raise
    return metadata, payload


def _metadata_format(metadata: Any) -> Literal["metablock", "dsse"]:
    from in_toto.models.metadata import Envelope

    return "dsse" if isinstance(metadata, Envelope) else "metablock"


def load_layout_key(path: Path) -> dict[str, Any]:
    """A layout key in the in-toto key-dict form, from PEM, X.509 or securesystemslib JSON."""
    from securesystemslib.exceptions import Error as SslibError
    from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]

    raw = read_limited(path, limit=MAX_KEY_BYTES, what="layout key")
    try:
        if raw.lstrip().startswith(b"{"):
            obj = json.loads(raw)
            if not isinstance(obj, dict) or not isinstance(obj.get("keyval"), dict):
                raise KeyFormatError(f"layout key {path} is JSON but not a securesystemslib key")
            keyid = str(obj["keyid"]) if isinstance(obj.get("keyid"), str) else securesystemslib_keyid(obj)
            public = {k: v for k, v in obj.items() if k != "keyid"}
            public["keyval"] = {"public": obj["keyval"].get("public")}
            key = SSlibKey.from_dict(keyid, public)
        else:
            parsed = parse_public_keys(raw, str(path))
            if len(parsed) != 1:
                raise KeyFormatError(f"layout key {path} holds {len(parsed)} keys; give one key per file")
            key = SSlibKey.from_crypto(parsed[0].key)
    except (SslibError, ValueError, TypeError, KeyError) as exc:
        raise KeyFormatError(f"layout key {path} cannot be used: {_one_line(exc)}") from None
    key_dict: dict[str, Any] = key.to_dict()
    key_dict["keyid"] = key.keyid
    return key_dict


def _link_path(link_dir: Path, step_name: str, keyid: str) -> Path:
    from in_toto.models.link import FILENAME_FORMAT

    return link_dir / str(FILENAME_FORMAT.format(step_name=step_name, keyid=keyid))


def _sublayout_dir(link_dir: Path, step_name: str, keyid: str) -> Path:
    from in_toto.models.layout import SUBLAYOUT_LINK_DIR_FORMAT

    return link_dir / str(SUBLAYOUT_LINK_DIR_FORMAT.format(name=step_name, keyid=keyid))


def _step_keyids(layout: Any, step: Any) -> list[str]:
    keyids: list[str] = []
    for keyid in step.pubkeys:
        keyids.append(keyid)
        keyids.extend(layout.keys.get(keyid, {}).get("subkeys", {}).keys())
    return keyids


def _scan_inspections(layout: Any, link_dir: Path, prefix: str, depth: int) -> list[str]:
    """Inspections of ``layout`` and of every sublayout in ``link_dir``, read only (nothing verified or run)."""
    found = [f"{prefix}{inspection.name}" for inspection in layout.inspect]
    if depth >= _MAX_SUBLAYOUT_DEPTH:
        raise InputError(f"sublayouts nest more than {_MAX_SUBLAYOUT_DEPTH} levels deep")
    for step in layout.steps:
        for keyid in _step_keyids(layout, step):
            path = _link_path(link_dir, step.name, keyid)
            if not path.is_file():
                continue
            _, payload = _load_metadata(path, "link", MAX_LINK_BYTES)
            if getattr(payload, "type_", "") == "layout":
                found += _scan_inspections(
                    payload, _sublayout_dir(link_dir, step.name, keyid), f"{prefix}{step.name}/", depth + 1
                )
    return found


def layout_inspections(layout_path: Path, link_dir: Path | None = None) -> tuple[str, ...]:
    """Names of the inspections the layout (and sublayouts found in ``link_dir``) would run."""
    _, layout = _load_metadata(Path(layout_path), "layout", MAX_LAYOUT_BYTES)
    if getattr(layout, "type_", "") != "layout":
        raise InputError(f"{layout_path} holds an in-toto {getattr(layout, 'type_', '?')}, not a layout")
    if link_dir is None:
        return tuple(inspection.name for inspection in layout.inspect)
    return tuple(_scan_inspections(layout, Path(link_dir), "", 0))


def verify_layout(
    layout_path: Path,
    layout_keys: Sequence[Path],
    link_dir: Path,
    *,
    allow_inspections: bool = False,
    substitution_parameters: Mapping[str, str] | None = None,
) -> VerifiedLayout:
    """Verify an in-toto layout and its links; see the module docstring."""
    from in_toto import verifylib

    layout_path, link_dir = Path(layout_path), Path(link_dir)
    metadata, layout = _load_metadata(layout_path, "layout", MAX_LAYOUT_BYTES)
    if getattr(layout, "type_", "") != "layout":
        raise InputError(f"{layout_path} holds an in-toto {getattr(layout, 'type_', '?')}, not a layout")
    if not layout_keys:
        raise InputError("an in-toto layout needs at least one layout key to verify its signature")
    if not link_dir.is_dir():
        raise InputError(f"link directory {link_dir} does not exist or is not a directory")
    key_dicts = [load_layout_key(Path(path)) for path in layout_keys]
    layout_key_dict = {key["keyid"]: key for key in key_dicts}

    inspections = _scan_inspections(layout, link_dir, "", 0)
    if inspections and not allow_inspections:
        raise InspectionsNotAllowedError(
            f"layout {layout_path} has inspections that would run commands ({', '.join(inspections)}); "
            "they run only when inspections are explicitly allowed (--allow-inspections)",
            inspections=inspections,
        )
    _check_link_sizes(layout, link_dir)

    try:
        summary = verifylib.in_toto_verify(
            metadata,
            layout_key_dict,
            link_dir_path=str(link_dir),
            substitution_parameters=dict(substitution_parameters) if substitution_parameters else None,
            persist_inspection_links=False,
        )
    except Exception as exc:
        raise _translate(exc, layout, layout_path, link_dir, key_dicts) from None

    return VerifiedLayout(
        layout_path=str(layout_path),
        metadata_format=_metadata_format(metadata),
        layout_keyids=tuple(layout_key_dict),
        expires=str(layout.expires),
        steps=tuple(step.name for step in layout.steps),
        step_results=_verified_steps(layout, link_dir),
        inspections_run=tuple(inspections),
        final_products={str(name): dict(digests) for name, digests in summary.products.items()},
        permissive_rules=permissive_rules(layout),
    )


def permissive_rules(layout: Any) -> tuple[str, ...]:
    """Rule lists that do not end in DISALLOW: in-toto lets any artifact they leave unmatched through."""
    found = []
    for item in [*layout.steps, *layout.inspect]:
        for kind, rules in (("materials", item.expected_materials), ("products", item.expected_products)):
            if not rules or str(rules[-1][0]).upper() != "DISALLOW":
                found.append(f"{item.name} expected_{kind}")
    return tuple(found)


def _check_link_sizes(layout: Any, link_dir: Path) -> None:
    """in-toto reads link files whole: bound them first."""
    for step in layout.steps:
        for keyid in _step_keyids(layout, step):
            path = _link_path(link_dir, step.name, keyid)
            if path.is_file() and path.stat().st_size > MAX_LINK_BYTES:
                raise InputError(f"link {path} is larger than the {MAX_LINK_BYTES}-byte limit")


def _verified_steps(layout: Any, link_dir: Path) -> tuple[VerifiedStep, ...]:
    """Which functionaries' links verified for each step (re-read after in-toto accepted the whole chain)."""
    from in_toto import verifylib

    links = verifylib.verify_link_signature_thresholds(layout, verifylib.load_links_for_layout(layout, str(link_dir)))
    steps = []
    for step in layout.steps:
        step_links = links.get(step.name, {})
        steps.append(
            VerifiedStep(
                name=step.name,
                threshold=int(step.threshold),
                functionaries=tuple(step.pubkeys),
                verified_by=tuple(sorted(step_links)),
                sublayout=any(getattr(m.get_payload(), "type_", "") == "layout" for m in step_links.values()),
            )
        )
    return tuple(steps)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else exc.__class__.__name__


def _translate(
    exc: Exception, layout: Any, layout_path: Path, link_dir: Path, key_dicts: Sequence[Mapping[str, Any]]
) -> AttestationError:
    """Turn an in-toto exception into an error whose message an operator can act on."""
    from in_toto import exceptions as ite
    from in_toto import verifylib
    from securesystemslib.exceptions import Error as SslibError

    if isinstance(exc, AttestationError):
        return exc
    if isinstance(exc, ite.SignatureVerificationError):
        keyids = ", ".join(key["keyid"][:16] for key in key_dicts)
        return LayoutVerificationError(
            f"layout {layout_path} is not validly signed by every layout key ({keyids}): {_one_line(exc)}",
            stage="layout-signature",
        )
    if isinstance(exc, ite.LayoutExpiredError):
        return LayoutVerificationError(
            f"layout {layout_path} expired on {layout.expires}; the project owner must sign a new one",
            stage="expired",
        )
    if isinstance(exc, ite.LinkNotFoundError):
        step = _quoted_step(str(exc))
        names = ""
        if step is not None:
            for candidate in layout.steps:
                if candidate.name == step:
                    names = ", ".join(_link_path(Path(""), step, k).name for k in _step_keyids(layout, candidate))
        return LayoutVerificationError(
            f"step '{step}' has too few signed links in {link_dir}: {_one_line(exc)}"
            + (f" (looked for {names})" if names else ""),
            stage="link-missing",
            step=step,
        )
    if isinstance(exc, ite.ThresholdVerificationError):
        step = _quoted_step(str(exc))
        return LayoutVerificationError(
            f"step '{step}' is not vouched for by enough authorized functionaries with valid signatures that agree: "
            f"{_one_line(exc)}",
            stage="threshold",
            step=step,
        )
    if isinstance(exc, ite.RuleVerificationError):
        trace = getattr(verifylib, "RULE_TRACE", {})
        item = trace.get("source_name")
        kind = trace.get("source_type", "artifacts")
        first = _one_line(exc)
        rule = first.split("'")[1] if first.count("'") >= 2 else None
        artifacts = _artifacts_in(first)
        what = "inspection" if any(i.name == item for i in layout.inspect) else "step"
        return LayoutVerificationError(
            f"{what} '{item}' broke the rule '{rule}' on its {kind}: {first}",
            stage="rule",
            step=item,
            rule=rule,
            artifacts=artifacts,
        )
    if isinstance(exc, ite.BadReturnValueError):
        return LayoutVerificationError(f"an inspection command failed: {_one_line(exc)}", stage="inspection")
    if isinstance(exc, SslibError):
        return InputError(f"in-toto could not verify {layout_path}: {_one_line(exc)}")
    if isinstance(exc, OSError):
        return InputError(f"in-toto could not read its inputs for {layout_path}: {exc.strerror or exc}")
    return InputError(f"in-toto could not verify {layout_path}: {exc.__class__.__name__}: {_one_line(exc)}")


def _quoted_step(message: str) -> str | None:
    marker = "Step '"
    if marker in message:
        rest = message.split(marker, 1)[1]
        return rest.split("'", 1)[0]
    return None


def _artifacts_in(message: str) -> tuple[str, ...]:
    """The artifact list in-toto prints after a rule failure, e.g. "... matched the following artifacts: ['a']"."""
    start, end = message.rfind("["), message.rfind("]")
    if start == -1 or end < start:
        brace_start, brace_end = message.rfind("{"), message.rfind("}")
        if brace_start == -1 or brace_end < brace_start:
            return ()
        start, end = brace_start, brace_end
    try:
        value = ast.literal_eval(message[start : end + 1])
    except (ValueError, SyntaxError):
        return ()
    if isinstance(value, list | set | tuple):
        return tuple(sorted(str(v) for v in value))
    return ()
