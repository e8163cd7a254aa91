"""The Rekor transparency-log evidence a bundle carries, checked offline against the trusted root's log keys.

Hand-written because no maintained package checks it on its own: sigstore-python's Merkle, checkpoint and SET code is
private (``sigstore._internal``) and runs only inside its Verifier, which refuses key-signed bundles
(sigstore-python#1244).

- ``entry``: the log entry as a bundle holds it (``LogEntry``, parsed once);
- ``log_key``: which of the trusted root's log keys signed, valid when, and checking its signatures;
- ``merkle``: the RFC 9162 inclusion proof;
- ``checkpoint``: the signed note naming the tree the proof leads to;
- ``set``: the signed entry timestamp over the entry and its integrated time.
"""
