"""TPMS_ATTEST, TPMT_SIGNATURE and TPM2B_PUBLIC parsing; the first byte picks the structure."""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["hw.tpm"]):
    from hw.errors import HardwareError
    from hw.tpm.attest import parse_quote_attest
    from hw.tpm.public import parse_public
    from hw.tpm.quote import load_attestation_key, parse_pcr_values
    from hw.tpm.signature import parse_signature

from _harness import run


def target(data: bytes) -> None:
    if not data:
        return
    selector, body = data[0] % 4, data[1:]
    if selector == 0:
        attest = parse_quote_attest(body)
        parse_pcr_values(body[-96:], attest.selections)
    elif selector == 1:
        parse_signature(body)
    elif selector == 2:
        parse_public(body)
    else:
        load_attestation_key(body)


if __name__ == "__main__":
    run(target, (HardwareError,))
