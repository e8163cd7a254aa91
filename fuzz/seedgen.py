"""Seeds made here, for harnesses whose real seeds come from the public vectors.

A fresh clone without ``../shared/vectors`` must still fuzz every harness from something real, so
``fuzz/run.py`` calls ``python fuzz/seedgen.py NAME DIR`` when a harness's vector seeds are absent:

- ``sigstore_bundle``: Sigstore bundles (v0.3, message-signature and DSSE) from a private log: this
  module's own CA issues a Fulcio-shaped leaf certificate, its own log key signs the entry timestamp
  and the checkpoint of a one-entry Merkle tree. Every signature and hash is real; the CA and log are
  in no trusted root, so verification gets as far as the trust decision, after all the parsing.
- ``layout``: in-toto layouts (a Metablock and a DSSE envelope) signed with a key made here, with steps,
  rules and an inspection, plus the links of their steps.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import sys
from pathlib import Path
from typing import Any


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sigstore_bundles(into: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID, ObjectIdentifier

    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    ca_key, leaf_key, log_key = (ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP256R1()),
                                 ec.generate_private_key(ec.SECP256R1()))
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "provcheck fuzz private CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA384())
    )
    issuer_v2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")

    def leaf_certificate(*, key_usage: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(ca.subject)
            .public_key(leaf_key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(minutes=10))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("fuzz@provcheck.invalid")]), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.UnrecognizedExtension(issuer_v2, b"\x0c\x1bhttps://issuer.provcheck.invalid"),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if key_usage:
            builder = builder.add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
        return builder.sign(ca_key, hashes.SHA384())

    leaf = leaf_certificate(key_usage=True)
    leaf_der = leaf.public_bytes(serialization.Encoding.DER)
    log_spki = log_key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    log_id = hashlib.sha256(log_spki).digest()
    leaf_pem = leaf.public_bytes(serialization.Encoding.PEM)

    def tlog_entry(body: dict[str, Any]) -> dict[str, Any]:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        integrated = int(now.timestamp())
        promise = json.dumps({"body": _b64(canonical), "integratedTime": integrated, "logID": log_id.hex(),
                              "logIndex": 0}, sort_keys=True, separators=(",", ":")).encode()
        root = hashlib.sha256(b"\x00" + canonical).digest()  # RFC 6962 leaf hash; a one-leaf tree's root
        note = f"provcheck-fuzz-log\n1\n{_b64(root)}\n"
        note_signature = log_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        checkpoint = note + f"\n\u2014 provcheck-fuzz-log {_b64(log_id[:4] + note_signature)}\n"
        return {
            "logIndex": "0",
            "logId": {"keyId": _b64(log_id)},
            "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
            "integratedTime": str(integrated),
            "inclusionPromise": {"signedEntryTimestamp": _b64(log_key.sign(promise, ec.ECDSA(hashes.SHA256())))},
            "inclusionProof": {"logIndex": "0", "rootHash": _b64(root), "treeSize": "1", "hashes": [],
                               "checkpoint": {"envelope": checkpoint}},
            "canonicalizedBody": _b64(canonical),
        }

    artifact = b"provcheck fuzz artifact\n"
    digest = hashlib.sha256(artifact).digest()
    signature = leaf_key.sign(artifact, ec.ECDSA(hashes.SHA256()))
    hashedrekord = {
        "apiVersion": "0.0.1", "kind": "hashedrekord",
        "spec": {"data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
                 "signature": {"content": _b64(signature), "publicKey": {"content": _b64(leaf_pem)}}},
    }
    material = {"certificate": {"rawBytes": _b64(leaf_der)}, "tlogEntries": [tlog_entry(hashedrekord)]}
    message = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": material,
        "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": _b64(digest)},
                             "signature": _b64(signature)},
    }
    statement = json.dumps({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "artifact.txt", "digest": {"sha256": digest.hex()}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {"buildType": "https://provcheck.invalid/fuzz"}},
    }).encode()
    payload_type = "application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(statement), statement)
    dsse_signature = leaf_key.sign(pae, ec.ECDSA(hashes.SHA256()))
    dsse_entry = {
        "apiVersion": "0.0.1", "kind": "dsse",
        "spec": {"envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(statement).hexdigest()},
                 "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(statement).hexdigest()},
                 "signatures": [{"signature": _b64(dsse_signature), "verifier": _b64(leaf_pem)}]},
    }
    dsse = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"certificate": {"rawBytes": _b64(leaf_der)}, "tlogEntries": [tlog_entry(dsse_entry)]},
        "dsseEnvelope": {"payload": _b64(statement), "payloadType": payload_type,
                         "signatures": [{"sig": _b64(dsse_signature), "keyid": ""}]},
    }
    v01 = {**message, "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
           "verificationMaterial": {"x509CertificateChain": {"certificates": [{"rawBytes": _b64(leaf_der)}]},
                                    "tlogEntries": material["tlogEntries"]}}
    # sigstore-python once let ExtensionNotFound escape for a leaf without KeyUsage (tests/regressions).
    bare = leaf_certificate(key_usage=False).public_bytes(serialization.Encoding.DER)
    bare_chain = {"certificates": [{"rawBytes": _b64(bare)}]}
    no_key_usage = {**v01, "verificationMaterial": {**v01["verificationMaterial"], "x509CertificateChain": bare_chain}}
    for name, bundle in (("message", message), ("dsse", dsse), ("message-v0.1", v01),
                         ("leaf-without-key-usage", no_key_usage)):
        (into / f"private-log-{name}.sigstore.json").write_text(json.dumps(bundle, indent=1))
    # A JSON-lines file of bundles, as some tools write several provenance bundles in one file.
    (into / "private-log-bundles.jsonl").write_text(json.dumps(message) + "\n" + json.dumps(dsse) + "\n")


def layouts(into: Path) -> None:
    from in_toto.models.layout import Inspection, Layout, Step
    from in_toto.models.link import Link
    from in_toto.models.metadata import Envelope, Metablock
    from securesystemslib.signer import CryptoSigner

    signer = CryptoSigner.generate_ed25519()
    key = {**signer.public_key.to_dict(), "keyid": signer.public_key.keyid}
    keyid = signer.public_key.keyid
    build = Step(name="build", pubkeys=[keyid], threshold=1, expected_command=["make", "all"])
    build.expected_materials = [["MATCH", "src/*", "WITH", "PRODUCTS", "FROM", "write-code"], ["DISALLOW", "*"]]
    build.expected_products = [["CREATE", "firmware.bin"], ["DISALLOW", "*"]]
    write = Step(name="write-code", pubkeys=[keyid], threshold=1)
    write.expected_products = [["CREATE", "src/main.c"], ["DISALLOW", "*"]]
    inspect = Inspection(name="size", run=["python", "-c", "print(1)"])
    inspect.expected_materials = [["MATCH", "firmware.bin", "WITH", "PRODUCTS", "FROM", "build"], ["ALLOW", "*"]]
    layout = Layout(steps=[write, build], inspect=[inspect], keys={keyid: key}, expires="2099-01-01T00:00:00Z")
    for form, wrapper in (("metablock", Metablock), ("dsse", Envelope)):
        signed = Metablock(signed=layout) if wrapper is Metablock else Envelope.from_signable(layout)
        signed.create_signature(signer)
        signed.dump(str(into / f"generated-{form}.layout"))
        link = Link(name="build", materials={"src/main.c": {"sha256": "00" * 32}},
                    products={"firmware.bin": {"sha256": "11" * 32}}, command=["make", "all"])
        signed_link = Metablock(signed=link) if wrapper is Metablock else Envelope.from_signable(link)
        signed_link.create_signature(signer)
        signed_link.dump(str(into / f"generated-{form}-build.{keyid[:8]}.link"))


def corim_kitchen_sink() -> Any:
    """A CoRIM using every part of the model the reader knows: every triple kind, every measurement value."""
    import uuid
    from datetime import UTC, datetime

    import cbor2

    from attestations.corim import model as m

    oid = m.Oid.from_dotted("1.3.6.1.4.1.99999.2")
    key = m.CryptoKey(554, "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")
    thumb = m.CryptoKey(557, m.Digest(1, hashlib.sha256(b"key").digest()))
    env = m.Environment(
        class_=m.ClassMap(class_id=oid, vendor="ACME", model="RoadRunner", layer=1, index=2),
        instance=m.Ueid(b"\x01" + bytes(16)),
        group=uuid.UUID(int=7),
    )
    other = m.Environment(class_=m.ClassMap(class_id=m.TaggedBytes(b"\xc0\xde"), vendor="WYLIE"))
    values = m.MeasurementValues(
        version=m.VersionInfo("1.2.3", 16384),
        svn=m.Svn(3, minimum=True),
        digests=(m.Digest(1, hashlib.sha256(b"a").digest()), m.Digest(-43, hashlib.sha384(b"a").digest()),
                 m.Digest("sha-512", hashlib.sha512(b"a").digest()), m.Digest("vendor-alg", b"\x01\x02")),
        flags=m.Flags(values=((0, True), (3, False)), extensions=((-5, True),)),
        raw_value=m.RawValue(b"\x12\x34", mask=b"\xff\x00", masked_form=True),
        mac_addr=b"\x00\x11\x22\x33\x44\x55",
        ip_addr=b"\x7f\x00\x00\x01",
        serial_number="SN-0001",
        ueid=m.Ueid(b"\x02" + bytes(8)),
        uuid=uuid.UUID(int=9),
        name="bootloader",
        cryptokeys=(key, thumb, m.CryptoKey(558, {1: 2, -1: 1})),
        integrity_registers=(m.IntegrityRegister(0, (m.Digest(1, bytes(32)),)),
                             m.IntegrityRegister("pcr-ext", (m.Digest(7, bytes(48)),))),
        int_range=m.IntRange(None, 10),
        extensions=((-1, {0: "1.1", 1: "1.2", 2: datetime(2023, 6, 25, tzinfo=UTC), 3: 1,
                          5: [{0: "title", 1: "text", 2: {0: "7.9", 1: "AV:L"}}]}),),
    )
    plain = m.MeasurementValues(raw_value=m.RawValue(b"\x01", mask=b"\x0f", deprecated_mask=True),
                                svn=m.Svn(2, tagged=False), int_range=m.IntRange(4, 4, tagged=False))
    meas = (m.Measurement(values, mkey=oid, authorized_by=(key,)), m.Measurement(plain, mkey=5),
            m.Measurement(plain, mkey=uuid.UUID(int=3)), m.Measurement(plain))
    stateful = m.StatefulEnvironment(env, meas[1:2])
    triples = m.Triples(
        reference=(m.ReferenceTriple(env, meas),),
        endorsed=(m.EndorsedTriple(other, meas[1:]),),
        identity=(m.KeyTriple(env, (key,), m.KeyConditions(mkey="fw", authorized_by=(thumb,))),),
        attest_key=(m.KeyTriple(other, (thumb,)),),
        dependency=(m.DomainTriple(env, (other,)),),
        membership=(m.DomainTriple(other, (env, other)),),
        coswid=(m.CoswidTriple(env, ("com.acme.fw", bytes(16))),),
        conditional_endorsement_series=(
            m.ConditionalEndorsementSeriesTriple(m.StatefulEnvironment(env, (), (key,)),
                                                 (m.ConditionalSeries(meas[1:2], meas[2:3]),)),),
        conditional_endorsement=(m.ConditionalEndorsementTriple((stateful,), (m.EndorsedTriple(env, meas[:1]),)),),
        extensions=((-9, ["triples extension"]),),
    )
    comid = m.ComID(
        tag_identity=m.TagIdentity(uuid.UUID(int=1), 2),
        triples=triples,
        language="en-GB",
        entities=(m.Entity("ACME", (0, 1, 2), "https://acme.example", ((-1, "123 Fake Street"),)),),
        linked_tags=(m.LinkedTag("base-tag", 0), m.LinkedTag(uuid.UUID(int=2), 1)),
        extensions=((-3, "comid extension"),),
    )
    return m.CoRIM(
        id=uuid.UUID(int=42),
        tags=(comid, m.OpaqueTag(505, cbor2.dumps({0: "swid"}))),
        dependent_rims=(m.Locator(("https://acme.example/base.corim",), (m.Digest(1, bytes(32)),)),
                        m.Locator(("https://a.example/1", "https://a.example/2"))),
        profile="https://acme.example/profile",
        validity=m.Validity(not_after=datetime(2035, 1, 1, tzinfo=UTC), not_before=datetime(2025, 1, 1, tzinfo=UTC)),
        entities=(m.Entity("ACME", (1, 2)),),
        extensions=((-1, "foo"),),
    )


def corim_seeds(into: Path) -> None:
    """Signed CoRIMs (each algorithm), an unsigned CoRIM, CoMIDs and a CoEV, made with provcheck's own writer."""
    import cbor2

    from attestations.corim import model as m
    from attestations.corim.build import ReferenceMeasurement, build_reference_corim, sign_reference_corim
    from attestations.corim.encode import encode_coev, encode_comid, encode_corim
    from attestations.keys import generate_private_key

    sink = corim_kitchen_sink()
    simple = build_reference_corim(
        "fuzz-seed", m.ClassMap(vendor="ACME", model="RoadRunner"),
        [ReferenceMeasurement("firmware.bin", {"sha256": bytes(32), "sha384": bytes(48)}, svn=1, version="1.0")],
        validity=m.Validity(not_after=datetime.datetime(2035, 1, 1, tzinfo=datetime.UTC)), creator="ACME",
    )
    for kind in ("ecdsa-p256", "ecdsa-p384", "ed25519"):
        (into / f"generated-signed-{kind}.corim").write_bytes(
            sign_reference_corim(simple, generate_private_key(kind), "fuzz signer", signer_uri="https://a.example"))
    (into / "generated-signed-kitchen-sink.corim").write_bytes(
        sign_reference_corim(sink, generate_private_key("ecdsa-p256"), "fuzz signer"))
    (into / "generated-unsigned.corim").write_bytes(encode_corim(simple))
    (into / "generated-kitchen-sink.corim").write_bytes(encode_corim(sink))
    comid = sink.comids[0]
    (into / "generated-comid.cbor").write_bytes(encode_comid(comid))
    (into / "generated-comid-506.cbor").write_bytes(cbor2.dumps(cbor2.CBORTag(506, encode_comid(comid))))
    reference = comid.triples.reference[0]
    coev = m.ConciseEvidence(
        ev_triples=m.EvTriples(
            evidence=(m.EvidenceTriple(reference.environment, reference.measurements),),
            identity=comid.triples.identity, attest_key=comid.triples.attest_key,
            dependency=comid.triples.dependency, membership=comid.triples.membership,
            coswid=(m.EvCoswidTriple(reference.environment, ({0: "tag", 1: {16: "x"}},)),),
        ),
        evidence_id=cbor2.CBORTag(37, bytes(16)), profile=m.Oid.from_dotted("1.2.3"),
    )
    (into / "generated-coev.cbor").write_bytes(encode_coev(coev))


def secureboot(into: Path) -> None:
    """UEFI Secure Boot inputs written with the package's own writers (EDK2 layout) and a key made here: compact
    variable stores (authenticated and plain, with a deleted variable, inside a firmware volume and bare), signature
    lists of every fixed-size type, a certificate list, a signed update (bare PKCS#7 SignedData) and the efivarfs
    form. Always made, vectors or not: the vectors' stores are 128 KiB-4 MiB of padding, too large to mutate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs7
    from cryptography.x509.oid import NameOID

    from verifier.firmware import der
    from verifier.firmware.secureboot.auth import signed_bytes
    from verifier.firmware.secureboot.guids import EFI_CERT_TYPE_PKCS7, EFI_GLOBAL_VARIABLE, guid_bytes
    from verifier.firmware.secureboot.siglist import signature_list_bytes
    from verifier.firmware.secureboot.varstore import store_bytes

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "DO NOT TRUST - fuzz PK")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    owner = "a0a0a0a0-0000-4000-8000-000000000001"
    certs = signature_list_bytes("X509", owner, [cert_der])
    hashes_list = signature_list_bytes("SHA256", owner, [hashlib.sha256(bytes([i])).digest() for i in range(4)])
    image_db = "d719b2cb-3d3a-4596-a3bc-dad00e67656f"
    variables = [("db", image_db, 0x27, certs + hashes_list), ("dbx", image_db, 0x27, hashes_list),
                 ("KEK", EFI_GLOBAL_VARIABLE, 0x27, certs), ("PK", EFI_GLOBAL_VARIABLE, 0x27, certs),
                 ("SecureBootEnable", "f0a30bc7-af08-4556-99c4-001009c93a44", 0x3, b"\x01")]
    (into / "store-fv.fd").write_bytes(store_bytes(variables, size=0x2000, fv_size=0x2048))
    (into / "store-bare.fd").write_bytes(store_bytes(variables, size=0x2000, in_volume=False))
    (into / "store-deleted.fd").write_bytes(store_bytes(variables + variables[3:4], size=0x2000, fv_size=0x2048,
                                                        states={3: 0x3C, 4: 0x3E}))
    (into / "store-plain.fd").write_bytes(store_bytes(variables, size=0x2000, authenticated=False, fv_size=0x2048))
    (into / "store-empty.fd").write_bytes(store_bytes([], size=0x200, fv_size=0x248))
    (into / "certs.esl").write_bytes(certs)
    sizes = {"SHA1": 20, "SHA224": 28, "SHA384": 48, "SHA512": 64, "RSA2048": 256, "X509_SHA256": 48}
    (into / "types.esl").write_bytes(b"".join(signature_list_bytes(kind, owner, [bytes(size)])
                                             for kind, size in sizes.items()))
    timestamp = (2026).to_bytes(2, "little") + bytes([1, 1, 0, 0, 0]) + bytes(9)
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.NoAttributes, pkcs7.PKCS7Options.Binary]
    for attrs, extra in ((0x27, options), (0x67, [options[0], options[2]])):  # the second with signed attributes
        message = signed_bytes("KEK", attrs, timestamp, certs)
        signed = pkcs7.PKCS7SignatureBuilder().set_data(message).add_signer(cert, key, hashes.SHA256()).sign(
            serialization.Encoding.DER, extra)
        bare = der.read(signed).child(1).child(0).raw
        header = ((24 + len(bare)).to_bytes(4, "little") + (0x0200).to_bytes(2, "little")
                  + (0x0EF1).to_bytes(2, "little") + guid_bytes(EFI_CERT_TYPE_PKCS7))
        (into / f"KEK-{attrs:x}.auth").write_bytes(timestamp + header + bare + certs)
    (into / "PK.efivarfs").write_bytes((0x27).to_bytes(4, "little") + certs)
    (into / "cert.der").write_bytes(cert_der)


GENERATORS = {"sigstore_bundle": sigstore_bundles, "layout": layouts, "corim": corim_seeds,
              "secureboot": secureboot}


if __name__ == "__main__":
    name, target = sys.argv[1], Path(sys.argv[2])
    target.mkdir(parents=True, exist_ok=True)
    GENERATORS[name](target)
