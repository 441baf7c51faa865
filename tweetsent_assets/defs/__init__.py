"""The Dagster code: assets, checks, jobs, sensors, schedules and resources."""
