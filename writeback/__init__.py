"""Writeback to the ERP (pure Python, no Dagster): batches of absolute target values."""
