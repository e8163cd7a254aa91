"""Attestation facts: DSSE envelopes, in-toto statements, layouts and links, Sigstore bundles.

This package returns facts (a verified statement, who signed it) and raises
``AttestationError`` when it cannot. It never judges policy: that is ``verifier``'s job.
"""
