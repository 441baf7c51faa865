"""Plain Python that the assets call, by domain: ingest, lake, ml, insights and cluster; testable without Dagster."""
