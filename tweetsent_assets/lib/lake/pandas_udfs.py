"""DataFrames from pandas (mapInPandas, local frames) whose columns carry Spark's default string type, over Connect too.

Over Connect (Spark 4.2) the string columns of such frames can come typed `string collate UTF8_BINARY`,
and Delta then writes that type into the table's schema, which the `deltalake` readers (describe,
batch_is_new, the dashboard) cannot parse. Casting each column to its declared type restores plain
`string`; in-process the cast is a no-op.
"""
from __future__ import annotations

from typing import Callable, Iterator

import pandas as pd


def map_in_pandas(df, fn: Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]], schema: str):
    """`df.mapInPandas(fn, schema)` with every output column cast to its type as named in `schema`."""
    return _declared_types(df.mapInPandas(fn, schema))


def local_frame(spark, frame: pd.DataFrame, schema: str):
    """`frame` (the driver's pandas rows) as a Spark DataFrame of `schema`, every column cast to its declared type."""
    return _declared_types(spark.createDataFrame(frame, schema))


def _declared_types(df):
    from pyspark.sql import functions as F

    return df.select(*[F.col(f.name).cast(f.dataType.simpleString()).alias(f.name) for f in df.schema.fields])
