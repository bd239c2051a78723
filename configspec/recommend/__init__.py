"""`configspec recommend`: find profiles, search, print a table, write ready-to-use settings."""
