"""Predicate type URIs: the project's own (versioned, see docs/predicates.md) and those it accepts."""

from __future__ import annotations

FIRMWARE_MANIFEST = "https://provcheck.dev/firmware-manifest/v1"
DEVICE_MANIFEST = "https://provcheck.dev/device-manifest/v1"
RELEASE_INDEX = "https://provcheck.dev/release-index/v1"

SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
SLSA_PROVENANCE_V02 = "https://slsa.dev/provenance/v0.2"
SLSA_VSA_V1 = "https://slsa.dev/verification_summary/v1"
CYCLONEDX = "https://cyclonedx.org/bom"
CYCLONEDX_V16 = "https://cyclonedx.org/bom/v1.6"
INTOTO_LINK = "https://in-toto.io/attestation/link/v0.3"
INTOTO_TEST_RESULT = "https://in-toto.io/attestation/test-result/v0.1"

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"

_NAMES = {
    FIRMWARE_MANIFEST: "firmware manifest",
    DEVICE_MANIFEST: "device manifest",
    RELEASE_INDEX: "release index",
    SLSA_PROVENANCE_V1: "SLSA provenance v1",
    SLSA_PROVENANCE_V02: "SLSA provenance v0.2",
    SLSA_VSA_V1: "SLSA VSA v1",
    CYCLONEDX: "CycloneDX BOM",
    CYCLONEDX_V16: "CycloneDX 1.6 BOM",
    INTOTO_LINK: "in-toto link",
    INTOTO_TEST_RESULT: "in-toto test result",
}


def describe(predicate_type: str) -> str:
    """A short human name for a predicate type, or the URI itself."""
    return _NAMES.get(predicate_type, predicate_type)
