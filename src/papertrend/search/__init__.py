"""Search: query parsing, the in-memory full-text index, vector indexes, hybrid fusion."""
