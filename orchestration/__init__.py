"""Dagster wiring: assets, checks, jobs, schedules and resources. The logic lives in plain modules."""
