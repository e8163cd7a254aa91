"""The signed entry timestamp (SET): the log's signature over the entry's body, integrated time, log id and index.

Hand-written: sigstore-python's own check (``LogEntry._verify_set``) is private and runs only inside its Verifier,
which refuses key-signed bundles (sigstore-python#1244).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from attestations.errors import BundleVerificationError
from attestations.sigstore.transparency.entry import LogEntry
from attestations.sigstore.transparency.log_key import verify_log_signature


def canonical_set_payload(entry: LogEntry, integrated_time: int) -> bytes:
    """What Rekor signs as the SET: RFC 8785 JSON of body, integratedTime, logID and logIndex."""
    document = {
        "body": base64.b64encode(entry.body).decode(),
        "integratedTime": integrated_time,
        "logID": entry.log_id.hex(),
        "logIndex": entry.log_index,
    }
    # Only ASCII strings and integers: sorted keys without whitespace is exactly RFC 8785 here.
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def verify_set(entry: LogEntry, signed_entry_timestamp: bytes, integrated_time: int, log_key: Any) -> None:
    """The SET verifies with ``log_key``, or ``BundleVerificationError`` (stage "log")."""
    if not verify_log_signature(log_key, signed_entry_timestamp, canonical_set_payload(entry, integrated_time)):
        raise BundleVerificationError("the signed entry timestamp (SET) does not verify", stage="log")
