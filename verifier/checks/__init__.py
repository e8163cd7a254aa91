"""Judges: facts and policy values in, findings out. They never read files, print or exit."""
