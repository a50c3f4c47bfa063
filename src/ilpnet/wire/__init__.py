"""Byte codecs for every Interledger wire format: pure functions on bytes, no I/O."""
