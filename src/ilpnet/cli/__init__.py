"""The `ilpnet` command line: thin wrappers that parse, call one coroutine, print."""
