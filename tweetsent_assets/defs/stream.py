"""The stream run: one long-lived run takes every new landing object, batch after batch, through bronze, silver and gold.

Like Structured Streaming's micro-batches, each batch takes everything that landed since the last
one (up to the caps), and the next starts as soon as it ends, in the same warm Spark session, with
no sensor tick or run start between them. Each batch has a manifest and belongs to the hour partition
of its key; its layers are recorded as that hour's materializations, summed over the batches since
the last report (reports.py), at most every report_seconds and when the hour ends.
"""

import logging
import os
import sys
import time
from datetime import datetime, timedelta, timezone

from dagster import AssetKey, Config, OpExecutionContext, in_process_executor, job, op
from pydantic import Field

from .. import settings
from ..lib.ingest.batching import advance_cursor, find_new_objects, plan_batches
from ..lib.ingest.hours import BadBatchKey, hour_key, hour_of
from ..lib.ingest.listing import IncrementalListing
from ..lib.ingest.manifests import MANIFEST_DIR, write_manifest
from ..lib.ingest.stream_state import holders, resume, write_cursor
from ..lib.lake.delta_tables import batches_held
from ..lib.ml.inference import make_scorer
from .bronze import write_bronze
from .gold import write_gold
from .reports import HourReports
from .resources import (
    BATCH_KIND_TAG,
    LakeResource,
    MicroBatchResource,
    MlflowResource,
    ObjectStoreResource,
    SentimentModelResource,
    SparkResource,
)
from .silver import write_silver

GOLD = AssetKey("gold_tweet_sentiment")
# The log message that says the stream takes objects now (the latency benchmark waits for it).
READY = "stream ready"
WARM_UP_TABLE = "_stream_warm_up"
# Each batch's line goes to the run's log (its stderr, shown in the UI), not to Dagster's event log.
batch_log = logging.getLogger("tweetsent.stream")


def _log_batches_to_stderr() -> None:
    """Give the batch logger a stderr handler once per process (Python's root logger drops INFO)."""
    if not batch_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        batch_log.addHandler(handler)
        batch_log.setLevel(logging.INFO)
        batch_log.propagate = False


class StreamConfig(Config):
    poll_seconds: float = Field(default=settings.STREAM_POLL_S, gt=0,
                                description="How often an idle stream lists the landing prefix")
    idle_seconds: float = Field(default=settings.STREAM_IDLE_S, ge=0,
                                description="The run ends after this long without a new object; 0 keeps it running "
                                            "(a standing stream, which the sensor starts even before objects land)")
    max_seconds: float = Field(default=settings.STREAM_MAX_S, gt=0,
                               description="The run ends after its batch that passes this age; the sensor starts the "
                                           "next, which runs the code location's current code")
    champion_check_seconds: float = Field(default=60, gt=0,
                                          description="How often the champion alias is looked up again")
    report_seconds: float = Field(default=settings.STREAM_REPORT_S, ge=0,
                                  description="How often each layer's materialization of the current hour is "
                                              "recorded (summed over the batches since the last one); an hour is "
                                              "also reported when it ends, and everything when the run ends")
    full_list_seconds: float = Field(default=settings.FULL_LIST_S, ge=0,
                                     description="Landing is listed from its last key, and whole this often (0: on "
                                                 "every poll), so keys written out of lexical order are still taken; "
                                                 "at most two thirds of micro_batching.lookback_seconds")


class _Scorer:
    """The spec gold scores with: the one the run was pinned to, then the champion as it changes."""

    def __init__(self, context: OpExecutionContext, model: SentimentModelResource, mlflow: MlflowResource,
                 every_s: float):
        self.context, self.model, self.mlflow, self.every_s = context, model, mlflow, every_s
        self.spec = model.spec(mlflow)
        self.checked = time.monotonic()

    def current(self):
        if self.model.kind != "champion" or time.monotonic() - self.checked < self.every_s:
            return self.spec
        self.checked = time.monotonic()
        try:
            spec = self.model.current_spec(self.mlflow)
        except Exception as exc:
            self.context.log.warning(f"could not look up the champion ({type(exc).__name__}: {exc}); "
                                     f"still scoring with {self.spec.name} {self.spec.version}")
            return self.spec
        if (spec.name, spec.version) != (self.spec.name, self.spec.version):
            self.context.log.info(f"the champion is now {spec.name} version {spec.version}")
            self.spec = spec
        return self.spec


def warm_up(session, scratch: str, spec) -> None:
    """Delta writes, a checkpoint and a read of a scratch table, and, with `spec`, one text scored in this process.

    A Spark server's first Delta write, its first checkpoint (every table writes one at its tenth
    commit) and the first model load each cost seconds: paid here, before the stream takes objects,
    not by a batch.
    """
    session.range(1).write.format("delta").mode("overwrite").save(scratch)
    session.sql(f"ALTER TABLE delta.`{scratch}` SET TBLPROPERTIES ('delta.checkpointInterval' = '1')")
    session.range(1).write.format("delta").mode("append").save(scratch)
    session.read.format("delta").load(scratch).collect()
    if spec is not None:
        import pandas as pd

        scorer = make_scorer(spec, text_column="text", id_column="id", threads=os.cpu_count())
        list(scorer(iter([pd.DataFrame({"id": ["warm-up"], "text": ["warming up"]})])))


@op(description="Lists landing, takes every new object (up to the batch caps) as the next micro-batch, writes its "
                "manifest and runs it through bronze, silver and gold; repeats until idle_seconds pass with nothing "
                "new. A batch left unfinished by an earlier run is finished first.")
def stream_micro_batches(context: OpExecutionContext, config: StreamConfig, spark: SparkResource,
                         landing: ObjectStoreResource, batch_state: ObjectStoreResource, lake: LakeResource,
                         micro_batching: MicroBatchResource, sentiment_model: SentimentModelResource,
                         mlflow: MlflowResource) -> int:
    started = time.monotonic()
    _log_batches_to_stderr()
    lookback = timedelta(seconds=micro_batching.lookback_seconds)
    source, state = landing.store(), batch_state.store()
    resumed = resume(state, lookback)
    held = batches_held(lake.path(GOLD.path[-1]), resumed.recent_batches)
    unfinished = [b for b in resumed.recent_batches if b not in held]
    context.log.info(f"{resumed.note}; {len(unfinished)} unfinished")
    scorer = _Scorer(context, sentiment_model, mlflow, config.champion_check_seconds)
    sole_writer = micro_batching.runs_at_once(context.instance) == 1
    warm_up(spark.session(), lake.path(WARM_UP_TABLE), scorer.current() if micro_batching.driver_texts else None)
    context.log.info(f"{READY}: scoring with {scorer.spec.name} {scorer.spec.version or ''}, "
                     f"{time.monotonic() - started:.1f} s after the run started")
    reports = HourReports(config.report_seconds)

    def record(events) -> None:
        for event in events:
            context.log_event(event)

    def run_batch(batch_id: str, waiting: int) -> bool:
        try:
            hour = hour_of(batch_id)
        except BadBatchKey as exc:
            context.log.error(f"batch manifest {state.uri(f'{MANIFEST_DIR}/{batch_id}.json')} skipped: {exc}")
            return False
        began = time.perf_counter()
        written, bronze_rows = write_bronze(spark, landing, batch_state, lake, batch_id, context.log)
        written["silver_tweets"], silver_rows = write_silver(spark, lake, micro_batching, batch_id, sole_writer,
                                                             context.log, bronze_rows)
        written[GOLD.path[-1]] = write_gold(spark, lake, scorer.current(), batch_id, context.log,
                                            micro_batching.driver_texts, silver_rows)
        batch_log.info(f"batch {batch_id} (hour {hour}): {written['bronze_tweets']['batch_rows']} tweets to gold in "
                       f"{time.perf_counter() - began:.2f} s; {waiting} objects waiting")
        record(reports.add(hour, batch_id, written))
        return True

    listing = IncrementalListing(source, _full_list_seconds(context, config, micro_batching),
                                 skip_prefix=f"{MANIFEST_DIR}/")
    context.log.info(listing.describe())
    cursor, batches, yielded_to = resumed.cursor, 0, []
    try:
        batches = sum(run_batch(batch_id, waiting=0) for batch_id in unfinished)
        last_new = time.monotonic()
        while time.monotonic() - started < config.max_seconds:
            new = find_new_objects(listing.poll(), cursor, lookback)
            listing.keep(new)
            if not new:
                record(reports.due(hour_key(datetime.now(timezone.utc))))
                if config.idle_seconds and time.monotonic() - last_new >= config.idle_seconds:
                    break
                time.sleep(config.poll_seconds)
                continue
            held_by = holders(state)
            if held_by:
                if held_by != yielded_to:
                    batch_log.info(f"the stream yields to run(s) {', '.join(held_by)}, which rewrite batches")
                yielded_to = held_by
                record(reports.due(hour_key(datetime.now(timezone.utc))))
                time.sleep(config.poll_seconds)
                continue
            yielded_to = []
            batch = plan_batches(new, micro_batching.max_objects_per_batch, micro_batching.max_batch_bytes,
                                 limit=1)[0]
            taken = {o.key for o in batch.objects}
            listing.keep(o for o in new if o.key not in taken)
            write_manifest(state, batch)
            cursor = advance_cursor(cursor, list(batch.objects), lookback)
            write_cursor(state, cursor)
            run_batch(batch.key, waiting=len(new) - len(batch.objects))
            batches, last_new = batches + 1, time.monotonic()
    finally:
        record(reports.flush())
    context.log.info(f"stream ends after {batches} batches and {time.monotonic() - started:.0f} s")
    return batches


def _full_list_seconds(context: OpExecutionContext, config: StreamConfig, micro_batching: MicroBatchResource) -> float:
    """The full-listing interval, at most two thirds of the lookback: an object that a full listing finds late must
    still be inside the lookback, or it would not count as new."""
    limit = micro_batching.lookback_seconds * 2 / 3
    if config.full_list_seconds and config.full_list_seconds > limit:
        context.log.warning(f"full_list_seconds {config.full_list_seconds:.0f} is over two thirds of "
                            f"micro_batching.lookback_seconds ({micro_batching.lookback_seconds} s): using {limit:.0f}")
        return limit
    return config.full_list_seconds


@job(executor_def=in_process_executor, tags={BATCH_KIND_TAG[0]: BATCH_KIND_TAG[1], "dagster/priority": "10"},
     description="The real-time path: one long-lived run that takes new landing objects as micro-batches, bronze to "
                 "gold, until they stop coming (micro_batching.mode = stream).")
def stream_tweet_batches():
    stream_micro_batches()
