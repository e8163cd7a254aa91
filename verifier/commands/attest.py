"""``provcheck attest``: sign statements as DSSE, and verify envelopes, Sigstore bundles and in-toto layouts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from verifier.commands.common import emit, format_option
from verifier.commands.keys import passphrase_from_env
from verifier.errors import BadInputError, UsageError
from verifier.model import Finding, Report

_PREDICATE_LIMIT = 16 * 1024 * 1024
_existing_file = click.Path(path_type=Path)


@click.group()
def attest() -> None:
    """Sign and verify in-toto statements, Sigstore bundles and in-toto layouts."""


@attest.command("sign")
@click.argument("artifacts", nargs=-1, required=True, type=_existing_file)
@click.option(
    "--key",
    "key_paths",
    multiple=True,
    required=True,
    type=_existing_file,
    help="Private key (PEM); repeat for several signatures.",
)
@click.option("--predicate-type", required=True, metavar="URI", help="The statement's predicateType.")
@click.option("--predicate", "predicate_path", type=_existing_file, help="JSON file with the predicate (default {}).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the .intoto.jsonl (default: FIRST_ARTIFACT.intoto.jsonl).",
)
@click.option("--append", is_flag=True, help="Add the envelope to an existing .intoto.jsonl instead of replacing it.")
@click.option("--passphrase-env", metavar="VAR", help="Passphrase for encrypted keys, from $VAR.")
@format_option()
def sign(
    artifacts: tuple[Path, ...],
    key_paths: tuple[Path, ...],
    predicate_type: str,
    predicate_path: Path | None,
    output: Path | None,
    append: bool,
    passphrase_env: str | None,
    output_format: str,
) -> int:
    """Build an in-toto Statement v1 for ARTIFACTS (sha256 and sha512) and sign it as DSSE."""
    from attestations.dsse import envelopes_to_jsonl, sign_envelope
    from attestations.files import read_limited, write_atomic
    from attestations.keys import load_signer
    from attestations.predicates import INTOTO_PAYLOAD_TYPE
    from attestations.statement import build_statement, subject_for_file

    if "://" not in predicate_type:
        raise UsageError(f"--predicate-type must be a URI, not {predicate_type!r}")
    predicate: Any = {}
    if predicate_path is not None:
        from attestations import strict_json

        # Strict: a predicate with a key twice would be signed as whichever one the parser kept.
        raw = read_limited(predicate_path, limit=_PREDICATE_LIMIT, what="predicate")
        predicate = strict_json.loads(raw, f"predicate {predicate_path}")
        if not isinstance(predicate, dict):
            raise BadInputError(f"predicate {predicate_path} must be a JSON object")
    password = passphrase_from_env(passphrase_env)
    signers = [load_signer(path, password) for path in key_paths]
    subjects = [subject_for_file(path) for path in artifacts]
    payload = build_statement(subjects, predicate_type, predicate)
    envelope = sign_envelope(payload, INTOTO_PAYLOAD_TYPE, signers)
    target = output or artifacts[0].with_name(artifacts[0].name + ".intoto.jsonl")
    existing = b""
    if append and target.exists():
        existing = read_limited(target, what="attestation file")
        if existing and not existing.endswith(b"\n"):
            existing += b"\n"
    write_atomic(target, existing + envelopes_to_jsonl([envelope]))
    summary = {
        "output": str(target),
        "predicate_type": predicate_type,
        "subjects": [s.to_json() for s in subjects],
        "signed_by": [s.public.keyid for s in signers],
    }
    if output_format == "json":
        sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    else:
        names = ", ".join(s.name for s in subjects)
        from verifier.output.sanitize import display

        # Subject names are file names: escaped before they reach the terminal.
        click.echo(display(f"signed {names} as {predicate_type} with {len(signers)} key(s) -> {target}"))
    return 0


@attest.command("verify")
@click.argument("artifacts", nargs=-1, type=_existing_file)
@click.option(
    "--bundle",
    "bundle_paths",
    multiple=True,
    type=_existing_file,
    help="DSSE envelope, .intoto.jsonl or Sigstore bundle; repeatable.",
)
@click.option(
    "--key",
    "key_paths",
    multiple=True,
    type=_existing_file,
    help="Trusted public key (PEM, X.509 certificate, securesystemslib JSON); repeatable.",
)
@click.option(
    "--threshold", type=int, default=1, show_default=True, help="Distinct trusted keys that must sign each envelope."
)
@click.option(
    "--trusted-root", type=_existing_file, help="Sigstore trusted_root.json (or trust config) of a private instance."
)
@click.option("--staging", is_flag=True, help="Use the Sigstore staging trust root instead of production.")
@click.option("--identity", help="Expected signer identity (certificate SAN) of Sigstore bundles.")
@click.option("--issuer", help="Expected OIDC issuer of Sigstore bundles.")
@click.option("--github-repository", help="Expected GitHub workflow repository (owner/name) claim.")
@click.option("--github-ref", help="Expected GitHub workflow ref claim (e.g. refs/tags/v1.0).")
@click.option("--github-workflow-name", help="Expected GitHub workflow name claim.")
@click.option("--github-workflow-trigger", help="Expected GitHub workflow trigger claim (e.g. push).")
@click.option("--github-workflow-sha", help="Expected GitHub workflow commit claim.")
@click.option(
    "--insecure-skip-identity",
    is_flag=True,
    help="Accept Sigstore bundles from any signer (verifies signature and log only).",
)
@click.option("--builder-id", help="Required SLSA builder id (without @version: any version).")
@click.option(
    "--source-uri",
    help="Required source repository, optionally with its exact ref (git+https://host/org/repo@refs/tags/v1); "
    "only the provenance's own source fields count, never resolvedDependencies.",
)
@click.option("--layout", "layout_path", type=_existing_file, help="in-toto layout to verify.")
@click.option("--layout-key", "layout_key_paths", multiple=True, type=_existing_file, help="Layout owner's public key.")
@click.option("--link-dir", type=click.Path(path_type=Path), help="Directory with the layout's link files.")
@click.option(
    "--allow-inspections",
    is_flag=True,
    help="Let the layout's inspections run their commands (they execute code: trusted layouts only).",
)
@click.option(
    "--predicate-type",
    metavar="URI",
    help="Only verified statements of this predicate type count; a statement of another type is a failure.",
)
@click.option("--strict", is_flag=True, help="Count warnings and skipped checks as failures.")
@format_option()
def verify(
    artifacts: tuple[Path, ...],
    bundle_paths: tuple[Path, ...],
    key_paths: tuple[Path, ...],
    threshold: int,
    trusted_root: Path | None,
    staging: bool,
    identity: str | None,
    issuer: str | None,
    github_repository: str | None,
    github_ref: str | None,
    github_workflow_name: str | None,
    github_workflow_trigger: str | None,
    github_workflow_sha: str | None,
    insecure_skip_identity: bool,
    builder_id: str | None,
    source_uri: str | None,
    layout_path: Path | None,
    layout_key_paths: tuple[Path, ...],
    link_dir: Path | None,
    allow_inspections: bool,
    predicate_type: str | None,
    strict: bool,
    output_format: str,
) -> int:
    """Verify attestations for ARTIFACTS: signatures, thresholds, subjects, SLSA build policy, the build chain."""
    from verifier.workflows.attest_verify import VerifyRequest, run_verify

    if not bundle_paths and layout_path is None:
        raise UsageError("give at least one --bundle, or a --layout")
    if trusted_root is not None and staging:
        raise UsageError("--trusted-root and --staging exclude each other")
    if (identity is None) != (issuer is None):
        raise UsageError("--identity and --issuer go together")
    if layout_path is not None and (not layout_key_paths or link_dir is None):
        raise UsageError("--layout needs --layout-key and --link-dir")
    if predicate_type is not None and "://" not in predicate_type:
        raise UsageError(f"--predicate-type must be a URI, not {predicate_type!r}")
    request = VerifyRequest(
        artifacts=artifacts,
        bundles=bundle_paths,
        keys=key_paths,
        threshold=threshold,
        trusted_root=trusted_root,
        staging=staging,
        identity=identity,
        issuer=issuer,
        github_claims={
            "github_repository": github_repository,
            "github_ref": github_ref,
            "github_workflow_name": github_workflow_name,
            "github_workflow_trigger": github_workflow_trigger,
            "github_workflow_sha": github_workflow_sha,
        },
        insecure_skip_identity=insecure_skip_identity,
        builder_id=builder_id,
        source_uri=source_uri,
        layout=layout_path,
        layout_keys=layout_key_paths,
        link_dir=link_dir,
        allow_inspections=allow_inspections,
        predicate_type=predicate_type,
    )
    findings: list[Finding] = run_verify(request)
    report = Report("attest verify", tuple(findings), strict=strict, subject=", ".join(str(a) for a in artifacts))
    return emit(report, output_format)
