"""in-toto layouts and links through the in-toto library, on the in-toto demo vectors (Metablock and DSSE).

The vectors ship an unsigned layout template; each test signs it with alice's key (included in the vectors, test only)
into a temporary directory. Inspections run commands, so the ones that run do so in a temporary working directory that
holds only the final product and the tiny `scripts/tar` helper the demo layout calls (written here: the vectors do not
carry it).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from attestations.errors import InputError, KeyFormatError
from attestations.layout import (
    InspectionsNotAllowedError,
    LayoutVerificationError,
    layout_inspections,
    verify_layout,
)

pytestmark = pytest.mark.vectors

FUTURE = "2099-01-01T00:00:00Z"
PAST = "2001-01-01T00:00:00Z"

# The vectors' template ends none of its rule lists with DISALLOW, so in-toto would let a tampered tarball through
# (checked below in test_the_template_as_shipped_accepts_a_tampered_product). A layout owner closes them, as in-toto's
# own demo layout does; these are the rules the tests sign.
CLOSED_UNTAR_MATERIALS = [
    ["MATCH", "foo.tar.gz", "WITH", "PRODUCTS", "FROM", "package"],
    ["ALLOW", "scripts/tar"],
    ["DISALLOW", "*"],
]
CLOSED_UNTAR_PRODUCTS = [
    ["MATCH", "foo.py", "WITH", "PRODUCTS", "FROM", "write-code"],
    ["ALLOW", "foo.tar.gz"],
    ["ALLOW", "scripts/tar"],
    ["DISALLOW", "*"],
]
TAR_HELPER = "import sys, tarfile\nwith tarfile.open(sys.argv[2]) as t:\n    t.extractall(filter='data')\n"


@dataclass(frozen=True)
class Demo:
    layout: Path
    links: Path
    workdir: Path
    alice_pub: Path
    bob_pub: Path


@pytest.fixture(scope="session")
def in_toto_vectors(vectors: Path) -> Path:
    return vectors / "in-toto" / "tests"


@pytest.fixture(params=["metablock", "dsse"])
def form(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_demo(in_toto_vectors: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Demo]:
    """Sign the demo template with alice's key; lay out links and a working directory for the inspection."""

    # The layout's inspection runs "python ./scripts/tar ...": make "python" this interpreter.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")

    def make(
        form: str,
        *,
        expires: str = FUTURE,
        inspections: bool = True,
        closed_rules: bool = True,
        edit: Callable[[Any], None] | None = None,
    ) -> Demo:
        from in_toto.models._signer import load_crypto_signer_from_pkcs8_file
        from in_toto.models.metadata import Envelope, Metablock, Metadata

        source = in_toto_vectors / ("demo_files" if form == "metablock" else "demo_dsse_files")
        layout = Metadata.load(str(source / "demo.layout.template")).get_payload()
        layout.expires = expires
        if not inspections:
            layout.inspect = []
        elif closed_rules:
            layout.inspect[0].expected_materials = CLOSED_UNTAR_MATERIALS
            layout.inspect[0].expected_products = CLOSED_UNTAR_PRODUCTS
        if edit is not None:
            edit(layout)
        signed = Metablock(signed=layout) if form == "metablock" else Envelope.from_signable(layout)
        signed.create_signature(load_crypto_signer_from_pkcs8_file(str(in_toto_vectors / "demo_files" / "alice")))

        root = tmp_path / form
        links = root / "links"
        workdir = root / "work"
        links.mkdir(parents=True)
        (workdir / "scripts").mkdir(parents=True)
        layout_path = root / "root.layout"
        signed.dump(str(layout_path))
        for name in ("write-code.776a00e2.link", "package.2f89b927.link"):
            shutil.copy(source / name, links / name)
        shutil.copy(in_toto_vectors / "demo_files" / "foo.tar.gz", workdir / "foo.tar.gz")
        (workdir / "scripts" / "tar").write_text(TAR_HELPER)
        monkeypatch.chdir(workdir)
        return Demo(
            layout_path,
            links,
            workdir,
            in_toto_vectors / "demo_files" / "alice.pub",
            in_toto_vectors / "demo_files" / "bob.pub",
        )

    return make


def replace_product(workdir: Path) -> None:
    """A well-formed tarball whose foo.py is not the one write-code produced."""
    data = b"print('not what bob wrote')\n"
    with tarfile.open(workdir / "foo.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("foo.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


# --- the demo passes, Metablock and DSSE -----------------------------------------------------------------------------


def test_demo_verifies_with_inspections_allowed(make_demo: Callable[..., Demo], form: str) -> None:
    demo = make_demo(form)
    fact = verify_layout(demo.layout, [demo.alice_pub], demo.links, allow_inspections=True)
    assert fact.metadata_format == form
    assert fact.steps == ("write-code", "package")
    assert fact.step_results[0].verified_by == ("776a00e29f3559e0141b3b096f696abc6cfb0c657ab40f441132b345b08453f5",)
    assert fact.step_results[1].verified_by == ("2f89b9272acfc8f4a0a0f094d789fdb0ba798b0fe41f2f5f417c12f0085ff498",)
    assert fact.inspections_run == ("untar",)
    assert fact.final_products["foo.tar.gz"]["sha256"] == (
        "52947cb78b91ad01fe81cd6aef42d1f6817e92b9e6936c1e5aabb7c98514f355"
    )
    assert (demo.workdir / "foo.py").is_file(), "the untar inspection ran"
    assert not list(demo.workdir.glob("*.link")), "inspection links are not written into the working directory"
    assert "untar expected_materials" not in fact.permissive_rules
    assert json.dumps(fact.to_json())


def test_demo_without_inspections_verifies_without_the_flag(make_demo: Callable[..., Demo], form: str) -> None:
    demo = make_demo(form, inspections=False)
    fact = verify_layout(demo.layout, [demo.alice_pub], demo.links)
    assert fact.inspections_run == ()
    assert "write-code expected_materials" in fact.permissive_rules


# --- each check has a failing twin ------------------------------------------------------------------------------------


def test_tampered_product_fails_naming_the_rule(make_demo: Callable[..., Demo], form: str) -> None:
    demo = make_demo(form)
    replace_product(demo.workdir)
    with pytest.raises(LayoutVerificationError) as err:
        verify_layout(demo.layout, [demo.alice_pub], demo.links, allow_inspections=True)
    assert err.value.stage == "rule"
    assert err.value.step == "untar"
    assert err.value.rule == "DISALLOW *"
    assert err.value.artifacts == ("foo.tar.gz",)
    assert "inspection 'untar'" in str(err.value) and "foo.tar.gz" in str(err.value)
    assert err.value.exit_code == 1


def test_the_template_as_shipped_accepts_a_tampered_product(make_demo: Callable[..., Demo]) -> None:
    """Why the tests close the rules: without DISALLOW, in-toto passes, and the fact says the rules are open."""
    demo = make_demo("metablock", closed_rules=False)
    replace_product(demo.workdir)
    fact = verify_layout(demo.layout, [demo.alice_pub], demo.links, allow_inspections=True)
    assert "untar expected_materials" in fact.permissive_rules
    assert "untar expected_products" in fact.permissive_rules


def test_expired_layout_fails(make_demo: Callable[..., Demo], form: str) -> None:
    demo = make_demo(form, expires=PAST, inspections=False)
    with pytest.raises(LayoutVerificationError) as err:
        verify_layout(demo.layout, [demo.alice_pub], demo.links)
    assert err.value.stage == "expired"
    assert PAST in str(err.value)


def test_wrong_layout_key_fails(make_demo: Callable[..., Demo], form: str) -> None:
    demo = make_demo(form, inspections=False)
    with pytest.raises(LayoutVerificationError) as err:
        verify_layout(demo.layout, [demo.bob_pub], demo.links)
    assert err.value.stage == "layout-signature"


def test_layout_edited_after_signing_fails(make_demo: Callable[..., Demo], tmp_path: Path) -> None:
    demo = make_demo("metablock", inspections=False)
    signed = json.loads(demo.layout.read_text())
    signed["signed"]["steps"][1]["threshold"] = 0
    demo.layout.write_text(json.dumps(signed))
    with pytest.raises(LayoutVerificationError) as err:
        verify_layout(demo.layout, [demo.alice_pub], demo.links)
    assert err.value.stage == "layout-signature"


def test_missing_link_fails_naming_the_step(make_demo: Callable[..., Demo], form: str) -> None:
    demo = make_demo(form, inspections=False)
    (demo.links / "package.2f89b927.link").unlink()
    with pytest.raises(LayoutVerificationError) as err:
        verify_layout(demo.layout, [demo.alice_pub], demo.links)
    assert err.value.stage == "link-missing"
    assert err.value.step == "package"
    assert "package.2f89b927" in str(err.value)


def test_link_with_a_flipped_byte_fails_the_threshold(make_demo: Callable[..., Demo]) -> None:
    demo = make_demo("metablock", inspections=False)
    link = demo.links / "write-code.776a00e2.link"
    obj = json.loads(link.read_text())
    digest = obj["signed"]["products"]["foo.py"]["sha256"]
    obj["signed"]["products"]["foo.py"]["sha256"] = ("1" if digest[0] != "1" else "2") + digest[1:]
    link.write_text(json.dumps(obj))
    with pytest.raises(LayoutVerificationError) as err:
        verify_layout(demo.layout, [demo.alice_pub], demo.links)
    assert err.value.stage == "threshold"
    assert err.value.step == "write-code"


def test_step_rule_failure_names_step_rule_and_artifact(make_demo: Callable[..., Demo]) -> None:
    def forbid_source_in_package(layout: Any) -> None:
        layout.steps[1].expected_materials = [["DISALLOW", "foo.py"]]

    demo = make_demo("metablock", inspections=False, edit=forbid_source_in_package)
    with pytest.raises(LayoutVerificationError) as err:
        verify_layout(demo.layout, [demo.alice_pub], demo.links)
    assert (err.value.stage, err.value.step, err.value.rule, err.value.artifacts) == (
        "rule",
        "package",
        "DISALLOW foo.py",
        ("foo.py",),
    )
    assert "step 'package'" in str(err.value) and "materials" in str(err.value)


# --- inspections need the explicit flag, and nothing runs without it ------------------------------------------------


def test_inspections_without_the_flag_refuse_before_anything_runs(make_demo: Callable[..., Demo], form: str) -> None:
    demo = make_demo(form)
    assert layout_inspections(demo.layout) == ("untar",)
    with pytest.raises(InspectionsNotAllowedError) as err:
        verify_layout(demo.layout, [demo.alice_pub], demo.links)
    assert err.value.inspections == ("untar",)
    assert "--allow-inspections" in str(err.value)
    assert not (demo.workdir / "foo.py").exists(), "the inspection must not have run"


def test_an_expired_layout_with_inspections_is_still_refused_first(make_demo: Callable[..., Demo]) -> None:
    demo = make_demo("metablock", expires=PAST)
    with pytest.raises(InspectionsNotAllowedError):
        verify_layout(demo.layout, [demo.alice_pub], demo.links)
    assert not (demo.workdir / "foo.py").exists()


# --- bad input ------------------------------------------------------------------------------------------------------


def test_bad_inputs_are_input_errors(make_demo: Callable[..., Demo], tmp_path: Path) -> None:
    demo = make_demo("metablock", inspections=False)
    malformed = tmp_path / "malformed.layout"
    malformed.write_text("{not json")
    truncated = tmp_path / "truncated.layout"
    truncated.write_bytes(demo.layout.read_bytes()[:200])
    not_metadata = tmp_path / "other.json"
    not_metadata.write_text(json.dumps({"hello": "world"}))
    link_as_layout = demo.links / "package.2f89b927.link"
    for layout, words in [
        (tmp_path / "absent.layout", "does not exist"),
        (tmp_path, "directory"),
        (malformed, "not valid JSON"),
        (truncated, "not valid JSON"),
        (not_metadata, "not in-toto metadata"),
        (link_as_layout, "not a layout"),
    ]:
        with pytest.raises(InputError, match=words):
            verify_layout(layout, [demo.alice_pub], demo.links)
    with pytest.raises(InputError, match="link directory"):
        verify_layout(demo.layout, [demo.alice_pub], tmp_path / "no-such-dir")
    with pytest.raises(InputError, match="at least one layout key"):
        verify_layout(demo.layout, [], demo.links)
    garbage_key = tmp_path / "garbage.pub"
    garbage_key.write_text("not a key")
    with pytest.raises(KeyFormatError):
        verify_layout(demo.layout, [garbage_key], demo.links)


def test_layout_key_as_securesystemslib_json(make_demo: Callable[..., Demo], tmp_path: Path) -> None:
    from securesystemslib.signer import SSlibKey

    demo = make_demo("dsse", inspections=False)
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = SSlibKey.from_crypto(load_pem_public_key(demo.alice_pub.read_bytes()))
    path = tmp_path / "alice.json"
    path.write_text(json.dumps({**key.to_dict(), "keyid": key.keyid}))
    fact = verify_layout(demo.layout, [path], demo.links)
    assert fact.layout_keyids == (key.keyid,)


def test_inspections_in_a_sublayout_are_refused_too(make_demo: Callable[..., Demo], in_toto_vectors: Path) -> None:
    """A step may be delegated to a sublayout (its "link" is a layout); that layout's inspections need the flag too."""
    from in_toto.models._signer import load_crypto_signer_from_pkcs8_file
    from in_toto.models.layout import Layout, Step
    from in_toto.models.metadata import Metablock

    demo = make_demo("metablock")
    alice = load_crypto_signer_from_pkcs8_file(str(in_toto_vectors / "demo_files" / "alice"))
    alice_key = {**alice.public_key.to_dict(), "keyid": alice.public_key.keyid}
    keyid = alice.public_key.keyid

    # The demo layout (with its untar inspection) becomes the link of step "build", delegated to alice.
    shutil.copy(demo.layout, demo.links / f"build.{keyid[:8]}.link")
    sub_links = demo.links / f"build.{keyid[:8]}"
    sub_links.mkdir()
    for link in ("write-code.776a00e2.link", "package.2f89b927.link"):
        shutil.move(demo.links / link, sub_links / link)

    step = Step(name="build", pubkeys=[keyid], threshold=1)
    step.expected_products = [["ALLOW", "*"]]
    superlayout = Layout(steps=[step], keys={keyid: alice_key}, expires=FUTURE)
    signed = Metablock(signed=superlayout)
    signed.create_signature(alice)
    super_path = demo.layout.parent / "super.layout"
    signed.dump(str(super_path))

    assert layout_inspections(super_path) == ()
    assert layout_inspections(super_path, demo.links) == ("build/untar",)
    with pytest.raises(InspectionsNotAllowedError) as err:
        verify_layout(super_path, [demo.alice_pub], demo.links)
    assert err.value.inspections == ("build/untar",)
    assert not (demo.workdir / "foo.py").exists(), "the sublayout's inspection must not have run"

    fact = verify_layout(super_path, [demo.alice_pub], demo.links, allow_inspections=True)
    assert fact.steps == ("build",) and fact.step_results[0].sublayout
    assert fact.inspections_run == ("build/untar",)


def test_malformed_or_oversized_link_is_an_input_error(make_demo: Callable[..., Demo]) -> None:
    demo = make_demo("metablock", inspections=False)
    (demo.links / "package.2f89b927.link").write_text('{"signed": {"_type": "link"')
    with pytest.raises(InputError, match="link"):
        verify_layout(demo.layout, [demo.alice_pub], demo.links)
    with (demo.links / "package.2f89b927.link").open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)
    with pytest.raises(InputError, match="link"):
        verify_layout(demo.layout, [demo.alice_pub], demo.links)
