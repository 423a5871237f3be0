"""Helpers shared by tests and scripts (demonstration vaults); no tests live here."""
