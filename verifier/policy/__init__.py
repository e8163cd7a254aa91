"""The intake policy, one concept per module.

``model`` the rules (frozen values; each field declares how it combines), ``toml_reader`` the strict TOML
reader that bench plans share, ``loading`` a policy file read into the model, ``combine`` ``all_of``.
"""
