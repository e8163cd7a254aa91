"""UEFI Secure Boot key databases (PK, KEK, db, dbx, dbt, dbr and the mode variables) as facts.

Hand-written: no maintained Python package parses EDK2 authenticated variable stores and EFI_SIGNATURE_LISTs into
facts (virt-firmware edits stores but is not a dependency here, and reports no bounded, offset-naming errors).

One concept per module:
- ``certificates``: the X.509 facts of one entry;
- ``siglist``: EFI_SIGNATURE_LIST;
- ``varstore``: the EDK2 firmware volume and variable store, live and deleted variables;
- ``auth``: EFI_VARIABLE_AUTHENTICATION_2 signed updates and their PKCS#7;
- ``efivarfs``: Linux dumps with their 4-byte attribute prefix;
- ``eventlog``: the TPM event log's EV_EFI_VARIABLE_DRIVER_CONFIG / EV_EFI_VARIABLE_AUTHORITY events;
- ``databases``: one view over all of them, what the judges read;
- ``reference``: the shipped known-test-key list and dbx reference.

Malformed input raises ``SecureBootFormatError`` naming the offset (exit 2).
"""
