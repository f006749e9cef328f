"""Landing contract, source-system adapters, the seed generator and the raw loader (pure Python, no Dagster)."""
