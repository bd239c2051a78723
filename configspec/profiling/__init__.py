"""Measuring on the real machine: drafting throughput and power (alignment and verification later)."""
