"""One module per top-level subcommand; ``verifier.cli`` imports them lazily."""
