"""Writeback to the ERP (pure Python, no Dagster): batches of absolute target values.

changes.py   business keys, reading the forecast, thresholds, planning a batch
state.py     the warehouse's `writeback` schema: batches, value in force, review queue, audit log + hash chain
targets.py   the file target and the interface; postgres.py the ERP staging tables
engine.py    run a batch, decide reviews, roll back; commands.py the CLI's text
files.py     CSV files and manifests written atomically; alerts.py run-failure alerts
settings.py  configuration from environment variables
"""
