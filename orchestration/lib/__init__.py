"""Small pure helpers used by the Dagster modules, unit-tested without running Dagster."""
