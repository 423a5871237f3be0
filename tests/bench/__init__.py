"""Benchmark helpers: a generator of large, valid vaults (see scripts/bench)."""
