"""TPM 2.0 evidence: quotes (TPMS_ATTEST, TPMT_SIGNATURE, TPM2B_PUBLIC), EK certificates, and TCG event logs.

Every parser here is bounded: it reads from a length-checked buffer, never
allocates more than the input it was given, and raises ``TpmFormatError`` (an
``hw.errors.EvidenceInputError``) on anything truncated or inconsistent. The
functions return facts; ``verifier.checks.measured_boot`` judges them.
"""
