"""Getting model files onto disk: the bundled demo pair, local paths, the hub, derived quantizations."""
