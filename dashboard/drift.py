"""The drift section: prediction_drift's metrics per time window over time, windows over a threshold marked.

It takes the table's rows (read with deltalake by the app, like the other tables), so it needs no Spark.
"""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from tweetsent_assets.lib.insights.drift import Thresholds, flagged_windows

TABLE = "prediction_drift"
METRICS = tuple(Thresholds().limits())


def drift_chart(rows: pd.DataFrame) -> alt.LayerChart:
    """Each drift metric per window as a line; flagged windows as red rules naming the metrics they crossed."""
    long = rows.melt(id_vars=["window_start"], value_vars=list(METRICS), var_name="metric", value_name="value")
    lines = alt.Chart(long.dropna(subset=["value"])).mark_line(point=True).encode(
        x=alt.X("window_start:T", title="time window (UTC)"), y=alt.Y("value:Q", title="drift"),
        color=alt.Color("metric:N"), tooltip=["window_start:T", "metric:N", alt.Tooltip("value:Q", format=".3f")])
    flagged = flagged_windows(rows)
    if flagged.empty:
        return alt.layer(lines).properties(height=260)
    rules = alt.Chart(flagged).mark_rule(strokeDash=[4, 3], strokeWidth=2, color="#d62728").encode(
        x="window_start:T", tooltip=["window_start:T", "total:Q", "baseline_version:N", "flagged_metrics:N"])
    return alt.layer(lines, rules).properties(height=260)


def section(rows: pd.DataFrame | None) -> None:
    """Drift over time against the champion's evaluation, and the flagged windows."""
    st.subheader("Prediction drift against the champion's evaluation")
    if rows is None or rows.empty:
        st.info(f"{TABLE} has not been materialized yet (it needs a champion's baseline and folded batches).")
        return
    rows = rows.sort_values("window_start")
    st.altair_chart(drift_chart(rows), width="stretch")
    versions = ", ".join(sorted(rows["baseline_version"].dropna().astype(str).unique())) or "none yet"
    flagged = flagged_windows(rows)
    st.caption(f"baseline: champion version {versions} · {len(flagged)} of {len(rows)} windows over a threshold "
               "(dashed red rules)")
    if len(flagged):
        st.dataframe(flagged.sort_values("window_start", ascending=False), hide_index=True)
