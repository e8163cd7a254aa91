"""IETF RATS CoRIM (draft-ietf-rats-corim): read, verify and write reference values. No CoRIM library exists on PyPI.

The model and codec are written by hand on cbor2 (strict, bounded); COSE_Sign1 is checked and made with ``cwt``.
Nothing here judges: the facts go to ``verifier/checks/corim.py``.

Modules (one concept each):

- ``model``: the frozen typed model. ``CoRIM`` (id, tags, dependent_rims, profile, validity, entities,
  extensions), ``ComID`` (tag_identity, triples, language, entities, linked_tags), ``Triples`` (reference,
  endorsed, identity, attest_key, dependency, membership, coswid, conditional_endorsement_series,
  conditional_endorsement), ``Environment`` (``class_``: ``ClassMap`` with class_id/vendor/model/layer/index;
  instance; group), ``Measurement`` (mkey, ``MeasurementValues`` mval: version, svn, digests, flags, raw_value,
  mac_addr, ip_addr, serial_number, ueid, uuid, name, cryptokeys, integrity_registers, int_range and
  ``extensions``; ``mval.extension(-1)`` is the OCP S.A.F.E. review report, ``mval.digest("sha-256")`` a digest),
  ``Digest`` (alg id or text; ``alg_name`` "sha-256", ``hashlib_name`` "sha256"), ``ConciseEvidence`` (CoEV),
  ``SignedCorim`` / ``ProtectedHeader`` / ``CorimMeta``, and ``Document`` (what a file held).
- ``cbor``: ``decode(data, what=...)`` strict bounded CBOR (only CoRIM's tags, no duplicate keys, limits);
  ``encode(value)`` deterministic CBOR.
- ``decode``: ``decode_corim(bytes) -> CoRIM`` (tag 501), ``decode_comid(bytes) -> ComID`` (bare or tag 506),
  ``decode_coev(bytes) -> ConciseEvidence`` (tag 571), and ``parse_*`` on already-decoded values.
- ``document``: ``load_document(bytes) -> Document`` for any of signed CoRIM, CoRIM, CoMID, CoEV.
- ``cose``: ``decode_signed(bytes) -> SignedCorim`` (headers checked, signature not),
  ``verify_signed(signed, [PublicKey]) -> SignatureCheck`` (through cwt),
  ``sign_corim(corim, Signer, CorimMeta) -> bytes`` (COSE_Sign1: ES256/384/512 from ECDSA keys, EdDSA from
  Ed25519; RSA refused, naming it).
- ``encode``: ``encode_corim(CoRIM) -> bytes`` (tag 501), ``encode_comid(ComID) -> bytes``, ``encode_coev``.
- ``build``: ``build_reference_corim(corim_id, ClassMap(vendor=..., model=...), [ReferenceMeasurement(mkey,
  {"sha256": digest, "sha384": ...}, svn=, version=)], validity=Validity(...), creator=...) -> CoRIM`` and
  ``sign_reference_corim(corim, signer, signer_name, signer_uri=None) -> bytes`` (signature validity = the
  CoRIM's validity).
- ``errors``: ``CorimFormatError`` (bad input, exit 2, ``.path`` names the field) and ``CorimUnsupportedError``
  (a refused algorithm or critical header, exit 2), both under ``attestations.errors.AttestationError``.

A typical read::

    from attestations.corim.document import load_document
    from attestations.corim.cose import verify_signed

    doc = load_document(data)                      # CorimFormatError names the field
    if doc.signed is not None:
        check = verify_signed(doc.signed, keys)    # keys: attestations.keys.PublicKey
    for comid in doc.corim.comids:
        for triple in comid.triples.reference:
            triple.environment.class_, [m.mval.digests for m in triple.measurements]
"""
