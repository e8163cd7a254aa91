"""Firmware analysis: load images (ELF, PE, Mach-O, UEFI volumes, option ROMs, hex files, carved blobs),
build the deterministic firmware manifest, and judge an image against a manifest or a baseline.

LIEF, capstone, yara and cryptography are imported inside the functions that need them, never here.
"""
