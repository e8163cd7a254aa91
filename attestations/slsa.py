"""Facts from SLSA provenance (v1, and v0.2 on input) and SLSA VSA v1 predicates.

Only the fields a verifier needs are extracted: who built it, from what source,
and which inputs (by digest) went in. Judging them is the verifier's job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attestations.errors import InputError
from attestations.predicates import SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1, SLSA_VSA_V1
from attestations.statement import normalise_digests


@dataclass(frozen=True)
class Dependency:
    uri: str
    name: str
    digests: Mapping[str, str]


@dataclass(frozen=True)
class SourceLocation:
    """A repository and ref in the one form provcheck compares."""

    host: str
    path: str
    #: As written (``refs/tags/v1``, ``v1``, a commit id); empty when none is given.
    ref: str

    @property
    def repository(self) -> str:
        return f"{self.host}/{self.path}"


@dataclass(frozen=True)
class SourceClaim:
    """Where the provenance says the build came from, and the field that says so."""

    #: For display: ``git+<repository>@<ref>``, or the ``source`` URI as written.
    uri: str
    #: The predicate field it was read from, e.g. ``buildDefinition.externalParameters.workflow``.
    field: str
    #: The repository and ref in comparable form; None when the text is not one repository (it matches nothing).
    location: SourceLocation | None


@dataclass(frozen=True)
class Provenance:
    builder_id: str
    build_type: str
    #: The build's own source, from the fields that name it (never resolvedDependencies or materials:
    #: a build lists every repository it fetched there, the vendor's too when it merely vendored it).
    sources: tuple[SourceClaim, ...]
    dependencies: tuple[Dependency, ...]


@dataclass(frozen=True)
class VerificationSummary:
    verifier_id: str
    result: str
    resource_uri: str
    verified_levels: tuple[str, ...]
    time_verified: str
    policy_uri: str


def _as_dict(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"SLSA predicate field {where} is not an object")
    return value


def _dependencies(raw: Any, where: str) -> tuple[Dependency, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InputError(f"SLSA predicate field {where} is not a list")
    out = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise InputError(f"SLSA predicate field {where} holds an entry that is not an object")
        digest = item.get("digest") or {}
        out.append(
            Dependency(
                uri=str(item.get("uri", "")),
                name=str(item.get("name", "")),
                digests=normalise_digests(digest, f"SLSA predicate field {where}[{index}]"),
            )
        )
    return tuple(out)


#: Keys of ``externalParameters`` that name the build's source: GitHub Actions build types (``workflow``),
#: the generic ResourceDescriptor or URI (``source``), Google Cloud Build (``sourceToBuild``).
_REPOSITORY_PARAMETERS = ("workflow", "sourceToBuild")


def _repository_claim(value: Any, where: str) -> SourceClaim | None:
    """``{"repository": ..., "ref": ...}``, the ref taken from its own field only."""
    if not isinstance(value, dict) or not isinstance(value.get("repository"), str):
        return None
    repository: str = value["repository"]
    ref = value.get("ref")
    if ref is not None and not isinstance(ref, str):
        raise InputError(f"SLSA predicate field {where}.ref is not a string")
    uri = f"{repository}@{ref}" if ref else repository
    location = parse_source(repository)
    if location is not None and location.ref:
        # "repository": "…/fw@refs/tags/v1" would lend the claim a ref its ref field does not give: one reader
        # takes it as the ref, another as part of the name. Such a claim matches nothing.
        location = None
    elif location is not None:
        location = SourceLocation(location.host, location.path, ref or "")
    return SourceClaim(uri, where, location)


def _external_sources(external: Mapping[str, Any]) -> list[SourceClaim]:
    where = "buildDefinition.externalParameters"
    claims = []
    for key in _REPOSITORY_PARAMETERS:
        claim = _repository_claim(external.get(key), f"{where}.{key}")
        if claim is not None:
            claims.append(claim)
    source = external.get("source")
    if isinstance(source, dict):
        source = source.get("uri")
        where = f"{where}.source.uri"
    else:
        where = f"{where}.source"
    if isinstance(source, str):
        claims.append(SourceClaim(source, where, parse_source(source)))
    return claims


def parse_provenance(predicate_type: str, predicate: Mapping[str, Any]) -> Provenance:
    if predicate_type == SLSA_PROVENANCE_V1:
        definition = _as_dict(predicate.get("buildDefinition"), "buildDefinition")
        run = _as_dict(predicate.get("runDetails"), "runDetails")
        builder = _as_dict(run.get("builder"), "runDetails.builder")
        external = _as_dict(definition.get("externalParameters"), "buildDefinition.externalParameters")
        return Provenance(
            builder_id=str(builder.get("id", "")),
            build_type=str(definition.get("buildType", "")),
            sources=tuple(_external_sources(external)),
            dependencies=_dependencies(definition.get("resolvedDependencies"), "resolvedDependencies"),
        )
    if predicate_type == SLSA_PROVENANCE_V02:
        builder = _as_dict(predicate.get("builder"), "builder")
        invocation = _as_dict(predicate.get("invocation"), "invocation")
        config = _as_dict(invocation.get("configSource"), "invocation.configSource")
        uri = config.get("uri")
        claims = (SourceClaim(uri, "invocation.configSource.uri", parse_source(uri)),) if isinstance(uri, str) else ()
        return Provenance(
            builder_id=str(builder.get("id", "")),
            build_type=str(predicate.get("buildType", "")),
            sources=claims,
            dependencies=_dependencies(predicate.get("materials"), "materials"),
        )
    raise InputError(f"not a SLSA provenance predicate: {predicate_type}")


def parse_vsa(predicate: Mapping[str, Any]) -> VerificationSummary:
    verifier = _as_dict(predicate.get("verifier"), "verifier")
    policy = _as_dict(predicate.get("policy"), "policy")
    levels = predicate.get("verifiedLevels") or []
    if not isinstance(levels, list):
        raise InputError("SLSA VSA field verifiedLevels is not a list")
    return VerificationSummary(
        verifier_id=str(verifier.get("id", "")),
        result=str(predicate.get("verificationResult", "")),
        resource_uri=str(predicate.get("resourceUri", "")),
        verified_levels=tuple(str(level) for level in levels),
        time_verified=str(predicate.get("timeVerified", "")),
        policy_uri=str(policy.get("uri", "")),
    )


def is_provenance(predicate_type: str) -> bool:
    return predicate_type in (SLSA_PROVENANCE_V1, SLSA_PROVENANCE_V02)


def is_vsa(predicate_type: str) -> bool:
    return predicate_type == SLSA_VSA_V1


_SCHEMES = ("https", "http", "ssh", "git")
#: Forges whose owner/repository paths are case-insensitive; elsewhere case in a path is significant.
_CASE_INSENSITIVE_HOSTS = frozenset({"github.com"})
_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?")
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._~+-]+")


def parse_source(uri: str) -> SourceLocation | None:
    """``git+https://Host/o/r.git@refs/tags/v1`` as (host, path, ref); None for anything that is not one repository.

    Only spelling is normalised: the ``git+`` prefix, the scheme, the host's case, a trailing ``/`` or
    ``.git``, and the path's case on forges that ignore it. Anything else that could make two texts name one
    repository for one reader and two for another (user info, query, fragment, ``..``, percent escapes,
    non-ASCII) makes the text unusable, so it matches nothing.
    """
    text = uri.removeprefix("git+")
    if not text.isascii() or not text.isprintable() or any(c.isspace() for c in text):
        return None
    scheme, separator, rest = text.partition("://")
    if not separator:
        rest = text
    elif scheme.lower() not in _SCHEMES:
        return None
    authority, _, path_and_ref = rest.partition("/")
    if scheme.lower() == "ssh" and authority.startswith("git@"):
        authority = authority[len("git@") :]
    host = authority.lower()
    path, at, ref = path_and_ref.partition("@")
    if not _HOST.fullmatch(host) or (at and not ref) or not ref.isprintable():
        return None
    path = path.removesuffix("/").removesuffix(".git")
    segments = path.split("/")
    if len(segments) < 2 or any(not _PATH_SEGMENT.fullmatch(s) or s in (".", "..") for s in segments):
        return None
    if host in _CASE_INSENSITIVE_HOSTS:
        path = path.lower()
    return SourceLocation(host=host, path=path, ref=ref)


def source_matches(expected: SourceLocation, claim: SourceClaim) -> bool:
    """True if the claim names exactly the expected repository, and exactly the expected ref when one is given.

    A ref is compared as written: ``v1`` is not ``refs/tags/v1`` (a branch may be called ``v1`` too).
    """
    have = claim.location
    if have is None or have.repository != expected.repository:
        return False
    return not expected.ref or have.ref == expected.ref
