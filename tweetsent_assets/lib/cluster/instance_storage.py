"""Dagster instance storage for the cluster topology (cluster/dagster.yaml): dagster-postgres, checked first.

dagster-postgres alone retries a refused connection for several seconds and waits on a silent port
for minutes, then reports "too many retries"; this storage first checks the server within
TWEETSENT_POSTGRES_CONNECT_TIMEOUT_S and fails with an error naming host:port.
"""
from __future__ import annotations

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

from ... import settings
from .postgres import check_reachable, with_driver


class CheckedPostgresStorage(DagsterPostgresStorage):
    """DagsterPostgresStorage (same config: postgres_url or postgres_db) that fails fast when Postgres is down.

    A URL without a driver gets psycopg2's (with_driver), the one dagster-postgres is written for.
    """

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> DagsterPostgresStorage:
        url = with_driver(pg_url_from_config(config_value))
        check_reachable(url, settings.POSTGRES_CONNECT_TIMEOUT_S)
        return DagsterPostgresStorage(postgres_url=url, inst_data=inst_data,
                                      should_autocreate_tables=config_value.get("should_autocreate_tables", True),
                                      token_provider=get_token_provider_from_config(config_value))
