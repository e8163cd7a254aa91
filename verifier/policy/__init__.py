"""The intake policy: its model, the strict TOML reader, and how policies combine."""
