"""Qt item models: thin adapters over the vault's SQLite index."""
