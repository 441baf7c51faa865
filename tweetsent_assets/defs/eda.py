"""EDA over bronze, silver and gold: counts, missing values, text lengths, top terms, given vs predicted.

Each plot is a PNG shown inline in the Dagster UI (markdown with a data: URI) and logged to MLflow.
"""
import tempfile
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from ..lib.insights import eda
from ..lib.lake import delta_tables
from ..lib.ml.model_runs import png_markdown
from .partitions import INSIGHTS_REFRESH
from .resources import LakeResource, MlflowResource, SparkResource
from .timing import stopwatch

EDA_EXPERIMENT = "tweetsent-eda"
TABLES = ("bronze_tweets", "silver_tweets", "gold_tweet_sentiment")


class EdaConfig(Config):
    top_n: int = Field(default=10, description="How many top users, mentions and hashtags to show")
    bin_width: int = Field(default=20, description="Text-length histogram bin width, in characters")
    log_to_mlflow: bool = Field(default=True, description="Also log the plots and tables to MLflow")


@asset(deps=list(TABLES), group_name="insights", kinds={"spark", "delta", "mlflow"},
       automation_condition=INSIGHTS_REFRESH)
def tweet_eda(context: AssetExecutionContext, config: EdaConfig, spark: SparkResource, lake: LakeResource,
              mlflow: MlflowResource) -> MaterializeResult:
    """Row counts and missing values per table, text lengths, top users/mentions/hashtags, given vs predicted."""
    with stopwatch() as timer:
        session = spark.session()
        frames = {t: session.read.format("delta").load(lake.path(t)) for t in TABLES
                  if delta_tables.exists(session, lake.path(t))}
        rows = {t: df.count() for t, df in frames.items()}
        missing = {t: eda.missing_values(df) for t, df in frames.items()}
        silver = frames.get("silver_tweets")
        lengths = {}
        if "bronze_tweets" in frames:
            lengths["bronze text"] = eda.text_length_histogram(frames["bronze_tweets"], "text", config.bin_width)
        if silver is not None:
            lengths["silver cleaned_text"] = eda.text_length_histogram(silver, "cleaned_text", config.bin_width)
        tops = {} if silver is None else {
            "users": eda.top_values(silver, "user", config.top_n),
            "mentions": eda.top_values(silver, "mentions", config.top_n, explode=True),
            "hashtags": eda.top_values(silver, "hashtags", config.top_n, explode=True),
        }
        crosstab = eda.given_vs_predicted(frames["gold_tweet_sentiment"]) if "gold_tweet_sentiment" in frames else None
    with tempfile.TemporaryDirectory() as scratch:
        pngs = _plots(Path(scratch), missing, lengths, tops, crosstab)
        tables = _tables(Path(scratch), missing, tops, crosstab)
        run_id = _log(mlflow, rows, crosstab, [*pngs.values(), *tables]) if config.log_to_mlflow else None
        plots = {name: MetadataValue.md(png_markdown(path)) for name, path in pngs.items()}
    agree = eda.agreement(crosstab) if crosstab is not None else None
    return MaterializeResult(metadata={
        **spark.metadata(), **{f"rows_{t}": n for t, n in rows.items()},
        "missing_values": MetadataValue.json({t: dict(zip(m["column"], m["missing"].astype(int).tolist()))
                                              for t, m in missing.items()}),
        **{f"top_{name}": MetadataValue.md(frame.to_markdown(index=False) if len(frame) else "none")
           for name, frame in tops.items()},
        **({"given_vs_predicted_agreement": round(agree, 4)} if agree is not None else {}),
        **plots, "mlflow_run_id": run_id or "not logged", "duration_s": timer["seconds"],
    })


def _plots(folder: Path, missing, lengths, tops, crosstab) -> dict[str, Path]:
    """The PNGs there is data for, keyed `<file stem>_plot` as they appear in the metadata."""
    paths = []
    if missing:
        paths.append(eda.plot_missing(missing, folder / "missing_values.png"))
    if lengths:
        paths.append(eda.plot_text_lengths(lengths, folder / "text_lengths.png"))
    if tops:
        paths.append(eda.plot_top_values(tops, folder / "top_terms.png"))
    if crosstab is not None:
        paths.append(eda.plot_given_vs_predicted(crosstab, folder / "given_vs_predicted.png"))
    return {f"{path.stem}_plot": path for path in paths}


def _tables(folder: Path, missing, tops, crosstab) -> list[Path]:
    paths = []
    if missing:
        frame = pd.concat([m.assign(table=t) for t, m in missing.items()], ignore_index=True)
        paths.append(folder / "missing_values.csv")
        frame.to_csv(paths[-1], index=False)
    for name, frame in tops.items():
        paths.append(folder / f"top_{name}.csv")
        frame.to_csv(paths[-1], index=False)
    if crosstab is not None:
        paths.append(folder / "given_vs_predicted.csv")
        crosstab.to_csv(paths[-1])
    return paths


def _log(mlflow: MlflowResource, rows: dict, crosstab, paths: list[Path]) -> str:
    """One MLflow run in the EDA experiment with the row counts, agreement and every plot and table."""
    client = mlflow.client()
    run = client.create_run(mlflow.experiment_id(EDA_EXPERIMENT), run_name="tweet-eda")
    run_id = run.info.run_id
    try:
        for table, n in rows.items():
            client.log_metric(run_id, f"rows_{table}", n)
        agree = eda.agreement(crosstab) if crosstab is not None else None
        if agree is not None:
            client.log_metric(run_id, "given_vs_predicted_agreement", agree)
        for path in paths:
            client.log_artifact(run_id, str(path))
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id
