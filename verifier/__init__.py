"""provcheck's core: it judges facts from ``attestations`` and ``hw`` against policy."""

__version__ = "0.1.0"
