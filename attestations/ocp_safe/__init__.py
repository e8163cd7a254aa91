"""OCP S.A.F.E. Short-Form Reports (SFRs): a security review provider's signed review of one firmware image.

- ``jws``: the compact JWS an SFR travels in, verified with jwcrypto against the keys the caller gives;
- ``report``: the SFR payload as a typed frozen model (``ShortFormReport.from_dict``), read with the strict
  JSON reader.

Facts only: whether an issue is acceptable, whether the report is recent enough or covers a file is
``verifier.checks.reviews``'s judgement.
"""
