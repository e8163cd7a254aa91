"""What reading one short-form report showed, whatever its form: the ``SignedReview`` fact."""

from __future__ import annotations

from dataclasses import dataclass

from attestations.keys import PublicKey
from attestations.ocp_safe.report import ShortFormReport

FORM_JWS = "jws"
FORM_JSON = "json"
FORM_CORIM = "corim"
FORM_COSE_CORIM = "cose-corim"


@dataclass(frozen=True)
class SignedReview:
    """A report and its signature's outcome.

    ``signed`` says whether the form carries a signature at all; ``signer`` is the given key that verified it
    (None when none did); ``refused`` says why no key was tried; ``label`` is what the report calls its own
    key (the JWS ``kid``), shown, never trusted; ``fitting`` counts the given keys of the algorithm's type.
    """

    source: str
    form: str
    report: ShortFormReport
    signed: bool
    signer: PublicKey | None = None
    refused: str | None = None
    algorithm: str = ""
    label: str | None = None
    keys_given: int = 0
    fitting: int = 0
