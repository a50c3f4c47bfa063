"""Conditions, STREAM keys and AES-256-GCM, claim signatures (the `cryptography` package)."""
