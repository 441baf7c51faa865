"""Tweets/s inside Spark: per-row UDF (a), mlflow spark_udf (b) and the gold path (c), interleaved in one run.

Same tweets (TweetEval validation, cleaned) and same model for every approach; each round runs
every approach once, and the figures are medians over rounds. `--spark both` (the default) measures
an in-process local session, then a Spark Connect server this script starts, each in a process of
its own; the last line is the Connect run's. Run from the repo root:

    .venv/bin/python benchmarks/inference.py --model /path/to/finetuned-minilm --rounds 3
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    flops_per_tweet,
    load_note,
    macro_recall,
    matmul_gflops,
    median,
    minilm_classifier,
    owned_connect_server,
    run_main,
    sentiment140_texts,
    tweeteval,
    write_silver,
)

from tweetsent_assets.lib.lake.services import end_process  # noqa: E402

CORES = os.cpu_count() or 2
STRUCT = "label string, score double, p_negative double, p_neutral double, p_positive double"


def absolute_path(value: str) -> Path:
    """A folder argument made absolute once: Spark's Python workers (a Connect server's) run in another directory."""
    return Path(value).expanduser().resolve()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, type=absolute_path,
                        help="saved HF classifier folder (default: MiniLM + fresh head); made absolute here")
    parser.add_argument("--tweets", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--repeat-fraction", type=float, default=0.3, help="share of repeated texts in the replay")
    parser.add_argument("--master", default="local[2]", help="the in-process master, and the Connect server's")
    parser.add_argument("--spark", choices=["both", "in-process", "connect"], default="both")
    parser.add_argument("--cache-rows", default=None, metavar="N,N,…",
                        help="only time cache lookups of --tweets keys with N older rows cached (in-process)")
    return parser.parse_args(argv)


def per_row_udf(model_dir: str, max_length: int):
    """(a): a plain Python UDF, one pipeline call per row, the pipeline cached per worker process."""
    from pyspark.sql import functions as F

    def label(text: str) -> str:
        cache = sys.__dict__.setdefault("_tweetsent_bench_pipelines", {})
        pipe = cache.get(model_dir)
        if pipe is None:
            import torch
            from transformers import pipeline

            torch.set_num_threads(1)
            pipe = cache[model_dir] = pipeline("text-classification", model=model_dir, tokenizer=model_dir,
                                               device=-1)
        return pipe(text, truncation=True, max_length=max_length)[0]["label"]

    return F.udf(label, "string")


def scoring_seconds(steps: dict) -> float:
    """Seconds of gold's scoring step: with the silver read and the gold write where they are one Spark job."""
    return steps["inference"] if "inference" in steps else steps["read"] + steps["score_and_write"]


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.cache_rows:
        return cache_lookups(args, [int(n) for n in args.cache_rows.split(",")])
    if args.spark != "both":
        return measure(args)
    last = ""
    for mode in ("in-process", "connect"):
        print(f"--- spark={mode}", flush=True)
        child = subprocess.Popen([sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]),
                                  "--spark", mode], stdout=subprocess.PIPE, text=True)
        try:
            for line in child.stdout:
                print(line, end="", flush=True)
                last = line.strip() or last
            child.wait()
        finally:
            end_process(child, wait_s=60)
        if child.returncode:
            return child.returncode
    print(last)
    return 0


def cache_lookups(args, sizes: list[int]) -> int:
    """Seconds of one batch's cache lookup, reading the recent partitions only vs the whole table, as the cache grows.

    The batch's keys are cached today (half of them hits); the N older rows are dated 30 days back, one file per
    1,000 rows as gold's appends leave them.
    """
    from pyspark.sql import functions as F

    from tweetsent_assets.lib.lake.spark_session import get_spark
    from tweetsent_assets.lib.ml import prediction_cache
    from tweetsent_assets.lib.ml.models.types import ModelSpec

    spark = get_spark(args.master, "tweetsent-bench-cache")
    spec = ModelSpec(kind="hf", model="/m", name="m", version="1")
    path = str(Path(tempfile.mkdtemp(prefix="tweetsent-bench-cache-")) / prediction_cache.TABLE)
    keys = [prediction_cache.text_hash(f"key {i}") for i in range(args.tweets)]
    recent = spark.createDataFrame([(h,) for h in keys[:args.tweets // 2]], "text_hash string")
    prediction_cache.store(spark, path, cache_rows(recent, spec))
    older, cached = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=30), 0
    for size in sorted(sizes):
        files = max(1, (size - cached) // 1000)
        rows = spark.range(cached, size, numPartitions=files).select(F.sha2(F.col("id").cast("string"), 256)
                                                                     .alias("text_hash"))
        (cache_rows(rows, spec).withColumn(prediction_cache.PARTITION, F.lit(older)).write.format("delta")
         .mode("append").partitionBy(prediction_cache.PARTITION).save(path))
        cached = size
        windowed = median([timed(lambda: prediction_cache.lookup(spark, path, keys, spec)) for _ in range(3)])
        whole = median([timed(lambda: prediction_cache.lookup(spark, path, keys, spec, days=36500)) for _ in range(3)])
        print(f"cache lookup of {args.tweets} keys, {size} older rows cached: recent partitions {windowed:.2f} s, "
              f"whole table {whole:.2f} s ({load_note()})", flush=True)
    return 0


def cache_rows(hashes, spec):
    """Prediction-cache rows of `spec` for a DataFrame of `text_hash`es (the prediction itself is a constant)."""
    from pyspark.sql import functions as F

    return hashes.select("text_hash", F.lit(spec.name).alias("model_name"), F.lit(spec.version).alias("model_version"),
                         F.lit("neutral").alias("label"), *[F.lit(p).alias(c) for p, c in (
                             (0.5, "score"), (0.2, "p_negative"), (0.5, "p_neutral"), (0.3, "p_positive"))])


def measure(args) -> int:
    """Every approach on one Spark (in-process, or a Connect server started here), interleaved over rounds."""
    import mlflow
    from mlflow import MlflowClient

    from tweetsent_assets.defs.gold import score_batch
    from tweetsent_assets.defs.resources import LakeResource
    from tweetsent_assets.lib.lake import connect_server
    from tweetsent_assets.lib.lake.spark_session import get_spark, parallelism
    from tweetsent_assets.lib.ml.models.types import ModelSpec
    from tweetsent_assets.lib.ml.registry import log_and_register

    scratch = Path(tempfile.mkdtemp(prefix="tweetsent-bench-inference-"))
    texts, truth = tweeteval(args.tweets)
    model_dir = args.model if args.model else minilm_classifier(scratch / "minilm-head")
    flops, params, tokens = flops_per_tweet(model_dir, texts, args.max_length)
    gflops = matmul_gflops(CORES)
    limit = gflops * 1e9 / flops
    print(f"tweets: {len(texts)} TweetEval val; model {model_dir}; {params / 1e6:.2f}M non-embedding params; "
          f"{tokens:.1f} tokens/tweet; {flops / 1e9:.3f} GFLOP/tweet")
    print(f"matmul fp32 {gflops:.1f} GFLOP/s on {CORES} threads -> fp32 limit {limit:.1f} tweets/s ({load_note()})")

    tracking = f"sqlite:///{scratch / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(tracking)
    client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    experiment = client.create_experiment("bench", artifact_location=(scratch / "artifacts").as_uri())
    run = client.create_run(experiment).info.run_id
    base = dict(kind="hf", model=str(model_dir), name="minilm", max_length=args.max_length)
    fp32_version = log_and_register(client, run, ModelSpec(**base), model_dir)
    int8_version = log_and_register(client, run, ModelSpec(**base, quantize=True), model_dir)
    client.set_terminated(run)
    specs = {version: ModelSpec(kind="mlflow", model=f"models:/tweet-sentiment/{version}", name="minilm",
                                version=version, tracking_uri=tracking) for version in (fp32_version, int8_version)}

    master, stack = args.master, contextlib.ExitStack()
    if args.spark == "connect":
        server = owned_connect_server(scratch / "spark-connect", args.master)
        master = stack.enter_context(connect_server.running(server)).url
    with stack:
        spark = get_spark(master, "tweetsent-bench-inference", state_dir=str(scratch / "spark-connect"))
        print(f"spark: {args.spark} ({master})", flush=True)
        slots = parallelism(spark)
        frame = spark.createDataFrame([(t,) for t in texts], "text string").repartition(slots).cache()
        frame.count()
        udf_a = per_row_udf(str(model_dir), args.max_length)
        udf_b = mlflow.pyfunc.spark_udf(spark, f"models:/tweet-sentiment/{fp32_version}", result_type=STRUCT,
                                        env_manager="local")
        lake = LakeResource(root=str(scratch / "lake"))
        fresh = sentiment140_texts()
        repeats = int(round(len(texts) * args.repeat_fraction))
        new_per_round = len(texts) - repeats
        write_silver(spark, lake.path("silver_tweets"), "warm", texts)
        for round_ in range(args.rounds):
            replay = fresh[round_ * new_per_round:(round_ + 1) * new_per_round] + texts[:repeats]
            for variant in ("fp32", "int8"):
                write_silver(spark, lake.path("silver_tweets"), f"val-{variant}-{round_}", texts)
                write_silver(spark, lake.path("silver_tweets"), f"replay-{variant}-{round_}", replay)

        def run_a():
            frame.select(udf_a("text").alias("label")).write.format("noop").mode("overwrite").save()

        def run_b():
            frame.select(udf_b("text").alias("p")).write.format("noop").mode("overwrite").save()

        def run_c(batch: str, version: str, use_cache: bool):
            """(seconds, GoldBatch) of gold scoring a batch it has not seen (a blind append, as for a micro-batch)."""
            done = {}
            seconds = timed(lambda: done.update(r=score_batch(spark, lake, batch, specs[version], use_cache=use_cache)))
            return seconds, done["r"]

        def gold_labels(batch: str) -> list[str]:
            rows = spark.read.format("delta").load(lake.path("gold_tweet_sentiment")) \
                .where(f"batch_id = '{batch}'").select("id", "label").collect()
            by_id = {r.id: r.label for r in rows}
            return [by_id[f"{batch}-{i}"] for i in range(len(texts))]

        print("warm-up: every approach once (model loads in each Python worker, not timed); the cache learns "
              f"the {repeats} repeated texts")
        run_a()
        run_b()
        score_batch(spark, lake, "warm", specs[int8_version], use_cache=True)
        score_batch(spark, lake, "warm", specs[fp32_version], use_cache=True)

        keys = ("a", "b", "c", "c_step", "c_int8", "c_cache", "c_int8_cache")
        rates: dict[str, list[float]] = {k: [] for k in keys}
        recall, gemm = {}, [gflops]
        for round_ in range(args.rounds):
            gemm.append(matmul_gflops(CORES))
            rates["a"].append(len(texts) / timed(run_a))
            rates["b"].append(len(texts) / timed(run_b))
            seconds, fp32 = run_c(f"val-fp32-{round_}", fp32_version, False)
            rates["c"].append(len(texts) / seconds)
            rates["c_step"].append(len(texts) / scoring_seconds(fp32.seconds))
            recall["fp32"] = macro_recall(truth, gold_labels(f"val-fp32-{round_}"))
            rates["c_int8"].append(len(texts) / run_c(f"val-int8-{round_}", int8_version, False)[0])
            recall["int8"] = macro_recall(truth, gold_labels(f"val-int8-{round_}"))
            seconds, replay = run_c(f"replay-fp32-{round_}", fp32_version, True)
            rates["c_cache"].append(len(texts) / seconds)
            rates["c_int8_cache"].append(len(texts) / run_c(f"replay-int8-{round_}", int8_version, True)[0])
            print(f"round {round_ + 1}: " + " ".join(f"{k}={v[-1]:.1f}" for k, v in rates.items())
                  + f" tweets/s; matmul {gemm[-1]:.1f} GFLOP/s; replay cache_hits={replay.cache_hits} "
                  + f"texts_scored={replay.texts_scored}; (c) steps {fp32.seconds}; "
                  + load_note(), flush=True)

        gflops = median(gemm)
        limit = gflops * 1e9 / flops
        a, b, c, step = median(rates["a"]), median(rates["b"]), median(rates["c"]), median(rates["c_step"])
        c8, cc, c8c = median(rates["c_int8"]), median(rates["c_cache"]), median(rates["c_int8_cache"])
        print(f"(a) per-row Python UDF, pipeline cached per worker: {a:.1f} tweets/s")
        print(f"(b) mlflow.pyfunc.spark_udf over models:/tweet-sentiment/{fp32_version}: {b:.1f} tweets/s "
              f"({b / a:.2f}x a)")
        print(f"(c) gold path from silver to a new gold batch, fp32, cache off: {c:.1f} tweets/s ({c / a:.2f}x a, "
              f"{c / limit:.0%} of fp32 limit); its scoring step {step:.1f} tweets/s "
              "(with the silver read and the gold write, which one job does with the scoring)")
        print(f"(c) gold path, int8 dynamic quantization: {c8:.1f} tweets/s ({c8 / a:.2f}x a); macro recall "
              f"fp32 {recall['fp32']:.4f} int8 {recall['int8']:.4f} "
              f"(drop {100 * (recall['fp32'] - recall['int8']):.2f} points)")
        print(f"(c) gold path, fp32, cache on, replay with {args.repeat_fraction:.0%} repeated texts: {cc:.1f} "
              "tweets/s "
              f"({cc / a:.2f}x a; skipping the model for {args.repeat_fraction:.0%} of texts caps this at "
              f"{1 / (1 - args.repeat_fraction):.2f}x the uncached gold path)")
        print(f"(c) gold path, int8, cache on, the same replay: {c8c:.1f} tweets/s ({c8c / a:.2f}x a)")
        print(f"matmul fp32 GFLOP/s per measurement (start, then each round): {' '.join(f'{g:.1f}' for g in gemm)}")
        print(f"matmul_gflops={gflops:.1f} flops_per_tweet={flops:.3e} fp32_limit_tweets_per_s={limit:.1f}")
        print(f"spark={args.spark} tweets={len(texts)} ratio_vs_per_row={c / a:.2f} "
              f"fraction_of_fp32_limit={c / limit:.2f} "
              f"inference_step_tweets_per_s={step:.1f} tweets_per_s={c:.1f} ratio_vs_spark_udf={c / b:.2f}")
    return 0



if __name__ == "__main__":
    run_main(main)
