"""mapInPandas whose output columns carry Spark's default string type, in-process and over Spark Connect.

Over Connect (Spark 4.2) the columns that mapInPandas returns are typed `string collate UTF8_BINARY`,
and Delta then writes that type into the table's schema, which the `deltalake` readers (describe,
batch_is_new, the dashboard) cannot parse. Casting each column to its declared type restores plain
`string`; in-process the cast is a no-op.
"""
from __future__ import annotations

from typing import Callable, Iterator

import pandas as pd


def map_in_pandas(df, fn: Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]], schema: str):
    """`df.mapInPandas(fn, schema)` with every output column cast to its type as named in `schema`."""
    from pyspark.sql import functions as F

    mapped = df.mapInPandas(fn, schema)
    return mapped.select(*[F.col(f.name).cast(f.dataType.simpleString()).alias(f.name) for f in mapped.schema.fields])
