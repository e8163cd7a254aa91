"""Workflows: the sequences of steps behind each command (intake, attest verify, release, bench, demo)."""
