"""The in-toto test-result predicate (``https://in-toto.io/attestation/test-result/v0.1``): build and read it.

The predicate records one run of a test suite: its ``result`` (PASSED, WARNED or FAILED), the ``configuration`` it
ran with (a list of in-toto ResourceDescriptors), an optional ``url`` of the run, and the names of the tests that
passed, warned and failed. Its statement's subjects are what was tested. This module only builds and parses the
predicate (facts); whether a result is good enough is the verifier's decision.

Hand-written: the predicate is six fields; its one Python binding (in-toto-attestation, generated protobuf classes)
would bring protobuf in for them, and the statement around it is read by provcheck's strict reader anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from attestations.errors import InputError
from attestations.statement import normalise_digests

#: The three results the predicate knows.
PASSED = "PASSED"
WARNED = "WARNED"
FAILED = "FAILED"
RESULTS = (PASSED, WARNED, FAILED)
_TEST_LISTS = ("passedTests", "warnedTests", "failedTests")


@dataclass(frozen=True)
class ResourceDescriptor:
    """An in-toto v1 ResourceDescriptor: at least one of ``uri``, ``digest`` or ``content`` (base64)."""

    name: str = ""
    uri: str = ""
    digest: Mapping[str, str] = field(default_factory=dict)
    content: str = ""
    download_location: str = ""
    media_type: str = ""
    annotations: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in (
            ("name", self.name),
            ("uri", self.uri),
            ("content", self.content),
            ("downloadLocation", self.download_location),
            ("mediaType", self.media_type),
        ):
            if value:
                out[key] = value
        if self.digest:
            out["digest"] = dict(sorted(self.digest.items()))
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> ResourceDescriptor:
        if not isinstance(raw, dict):
            raise InputError(f"{where} is not an object (a ResourceDescriptor)")
        texts: dict[str, str] = {}
        for key in ("name", "uri", "content", "downloadLocation", "mediaType"):
            value = raw.get(key, "")
            if not isinstance(value, str):
                raise InputError(f"{where}.{key} is not a string")
            texts[key] = value
        digest: dict[str, str] = {}
        if "digest" in raw:
            digest = normalise_digests(raw["digest"], f"{where}.digest")
        annotations = raw.get("annotations", {})
        if not isinstance(annotations, dict):
            raise InputError(f"{where}.annotations is not an object")
        if not (texts["uri"] or digest or texts["content"]):
            raise InputError(f"{where} has none of uri, digest or content: it describes nothing")
        return cls(
            name=texts["name"],
            uri=texts["uri"],
            digest=digest,
            content=texts["content"],
            download_location=texts["downloadLocation"],
            media_type=texts["mediaType"],
            annotations=annotations,
        )


@dataclass(frozen=True)
class TestResult:
    """One test-result predicate, typed; ``from_dict`` names the field that is wrong."""

    __test__: ClassVar[bool] = False  # not a pytest test class, whatever imports it

    result: str
    configuration: tuple[ResourceDescriptor, ...]
    url: str = ""
    passed_tests: tuple[str, ...] = ()
    warned_tests: tuple[str, ...] = ()
    failed_tests: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "result": self.result,
            "configuration": [c.to_json() for c in self.configuration],
            "passedTests": list(self.passed_tests),
            "warnedTests": list(self.warned_tests),
            "failedTests": list(self.failed_tests),
        }
        if self.url:
            out["url"] = self.url
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TestResult:
        """The predicate of a statement; unknown fields are ignored, as the in-toto parsing rules ask."""
        result = raw.get("result")
        if result not in RESULTS:
            raise InputError(f"test-result predicate field result must be one of {', '.join(RESULTS)}, not {result!r}")
        configuration = raw.get("configuration")
        if not isinstance(configuration, list):
            raise InputError("test-result predicate field configuration is missing or not a list")
        descriptors = tuple(
            ResourceDescriptor.from_dict(item, f"test-result predicate field configuration[{index}]")
            for index, item in enumerate(configuration)
        )
        url = raw.get("url", "")
        if not isinstance(url, str):
            raise InputError("test-result predicate field url is not a string")
        lists: dict[str, tuple[str, ...]] = {}
        for key in _TEST_LISTS:
            value = raw.get(key, [])
            if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
                raise InputError(f"test-result predicate field {key} is not a list of strings")
            lists[key] = tuple(value)
        return cls(
            result=str(result),
            configuration=descriptors,
            url=url,
            passed_tests=lists["passedTests"],
            warned_tests=lists["warnedTests"],
            failed_tests=lists["failedTests"],
        )


def build_test_result(
    *,
    result: str,
    configuration: Sequence[ResourceDescriptor],
    passed_tests: Sequence[str] = (),
    warned_tests: Sequence[str] = (),
    failed_tests: Sequence[str] = (),
    url: str = "",
) -> dict[str, Any]:
    """The predicate as JSON, checked by the same reader a verifier uses (``InputError`` if it would refuse it)."""
    predicate = TestResult(
        result, tuple(configuration), url, tuple(passed_tests), tuple(warned_tests), tuple(failed_tests)
    ).to_json()
    TestResult.from_dict(predicate)
    return predicate
