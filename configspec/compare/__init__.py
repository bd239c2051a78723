"""The profile regression gate: compare a CURRENT profile with a BASELINE (docs/compare.md)."""
