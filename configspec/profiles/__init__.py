"""Profile files: schemas (versioned) and reading/writing them."""
