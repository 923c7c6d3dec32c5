"""Data-quality gates: SQL checks evaluated inside PostgreSQL by Great Expectations before destructive stages."""
