"""Facts from SLSA provenance (v1, and v0.2 on input) and SLSA VSA v1 predicates.

Only the fields a verifier needs are extracted: who built it, from what source,
and which inputs (by digest) went in. Judging them is the verifier's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attestations.errors import InputError
from attestations.predicates import SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1, SLSA_VSA_V1


@dataclass(frozen=True)
class Dependency:
    uri: str
    name: str
    digests: Mapping[str, str]


@dataclass(frozen=True)
class Provenance:
    builder_id: str
    build_type: str
    #: Source repositories with their refs, as written (e.g. ``git+https://github.com/o/r@refs/tags/v1``).
    sources: tuple[str, ...]
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
    for item in raw:
        if not isinstance(item, dict):
            raise InputError(f"SLSA predicate field {where} holds an entry that is not an object")
        digest = item.get("digest") or {}
        if not isinstance(digest, dict) or not all(isinstance(v, str) for v in digest.values()):
            raise InputError(f"SLSA predicate field {where} holds a malformed digest")
        out.append(
            Dependency(
                uri=str(item.get("uri", "")),
                name=str(item.get("name", "")),
                digests={str(k).lower(): v.lower() for k, v in digest.items()},
            )
        )
    return tuple(out)


def _workflow_source(external: Mapping[str, Any]) -> list[str]:
    workflow = external.get("workflow")
    if not isinstance(workflow, dict):
        return []
    repository = workflow.get("repository")
    if not isinstance(repository, str):
        return []
    ref = workflow.get("ref")
    return [f"git+{repository}@{ref}" if isinstance(ref, str) else f"git+{repository}"]


def _external_source(external: Mapping[str, Any]) -> list[str]:
    source = external.get("source")
    if isinstance(source, str):
        return [source]
    if isinstance(source, dict) and isinstance(source.get("uri"), str):
        return [source["uri"]]
    return []


def parse_provenance(predicate_type: str, predicate: Mapping[str, Any]) -> Provenance:
    if predicate_type == SLSA_PROVENANCE_V1:
        definition = _as_dict(predicate.get("buildDefinition"), "buildDefinition")
        run = _as_dict(predicate.get("runDetails"), "runDetails")
        builder = _as_dict(run.get("builder"), "runDetails.builder")
        external = _as_dict(definition.get("externalParameters"), "buildDefinition.externalParameters")
        dependencies = _dependencies(definition.get("resolvedDependencies"), "resolvedDependencies")
        sources = _workflow_source(external) + _external_source(external)
        sources += [d.uri for d in dependencies if d.uri.startswith("git+") or "gitCommit" in d.digests]
        return Provenance(
            builder_id=str(builder.get("id", "")),
            build_type=str(definition.get("buildType", "")),
            sources=tuple(dict.fromkeys(sources)),
            dependencies=dependencies,
        )
    if predicate_type == SLSA_PROVENANCE_V02:
        builder = _as_dict(predicate.get("builder"), "builder")
        invocation = _as_dict(predicate.get("invocation"), "invocation")
        config = _as_dict(invocation.get("configSource"), "invocation.configSource")
        materials = _dependencies(predicate.get("materials"), "materials")
        sources = [config["uri"]] if isinstance(config.get("uri"), str) else []
        sources += [m.uri for m in materials if m.uri.startswith("git+")]
        return Provenance(
            builder_id=str(builder.get("id", "")),
            build_type=str(predicate.get("buildType", "")),
            sources=tuple(dict.fromkeys(sources)),
            dependencies=materials,
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


def split_source(uri: str) -> tuple[str, str]:
    """(repository, ref) from ``git+https://host/o/r@refs/tags/v1``; the repository normalised for comparison."""
    text = uri.strip()
    if text.startswith("git+"):
        text = text[4:]
    repository, _, ref = text.partition("@")
    for prefix in ("https://", "http://", "ssh://", "git://"):
        if repository.startswith(prefix):
            repository = repository[len(prefix) :]
    repository = repository.removesuffix("/").removesuffix(".git")
    return repository.lower(), ref


def source_matches(expected: str, actual: str) -> bool:
    """True if ``actual`` is the expected repository, and the expected ref when one is given.

    A ref given as a bare tag or branch name (``v1.2``) matches ``refs/tags/v1.2`` and ``refs/heads/v1.2``.
    """
    want_repo, want_ref = split_source(expected)
    have_repo, have_ref = split_source(actual)
    if want_repo != have_repo:
        return False
    if not want_ref:
        return True
    if want_ref == have_ref:
        return True
    return not want_ref.startswith("refs/") and have_ref in (f"refs/tags/{want_ref}", f"refs/heads/{want_ref}")
