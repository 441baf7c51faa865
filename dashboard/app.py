"""Live tweet-sentiment dashboard: `streamlit run dashboard/app.py` (see `make dashboard`).

Reads the aggregate tables and gold's newest rows with deltalake (no Spark, never all of gold)
and the champion from MLflow, and
re-reads them every TWEETSENT_DASHBOARD_REFRESH_S seconds (default 10) without reloading the page.
A second page (labeling.py) labels the active-learning queue.
"""
import os

import altair as alt
import pandas as pd
import streamlit as st

import data
import drift
import labeling

REFRESH_S = float(os.environ.get("TWEETSENT_DASHBOARD_REFRESH_S", "10"))
COLORS = alt.Scale(domain=list(data.LABELS), range=["#d62728", "#9e9e9e", "#2ca02c"])


def over_time(trends: pd.DataFrame, spikes: pd.DataFrame | None) -> alt.LayerChart:
    """Stacked tweets per window and sentiment (empty windows as zero), spikes marked by dashed black rules."""
    long = data.complete_windows(trends).melt(id_vars=["window_start"], value_vars=list(data.LABELS),
                                               var_name="sentiment",
                       value_name="tweets")
    area = alt.Chart(long).mark_area(opacity=0.8).encode(
        x=alt.X("window_start:T", title="time window (UTC)"), y=alt.Y("tweets:Q", stack=True),
        color=alt.Color("sentiment:N", scale=COLORS), tooltip=["window_start:T", "sentiment:N", "tweets:Q"])
    return alt.layer(area, *_spike_rules(spikes)).properties(height=280)


def negative_share(trends: pd.DataFrame, spikes: pd.DataFrame | None) -> alt.LayerChart:
    """Negative share per window against its rolling share, spikes marked."""
    columns = {"share_negative": "per window", "rolling_share_negative": "rolling"}
    long = trends[["window_start", *columns]].rename(columns=columns).melt(
        id_vars=["window_start"], var_name="series", value_name="negative share")
    lines = alt.Chart(long).mark_line().encode(
        x=alt.X("window_start:T", title="time window (UTC)"),
        y=alt.Y("negative share:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("series:N", scale=alt.Scale(range=["#ff9896", "#8c564b"])),
        tooltip=["window_start:T", "series:N", alt.Tooltip("negative share:Q", format=".1%")])
    return alt.layer(lines, *_spike_rules(spikes)).properties(height=220)


def _spike_rules(spikes: pd.DataFrame | None) -> list:
    if spikes is None or spikes.empty:
        return []
    marks = spikes.assign(mentions=spikes["top_mentions"].map(lambda v: ", ".join(v)),
                          hashtags=spikes["top_hashtags"].map(lambda v: ", ".join(v)))
    marks = marks[["window_start", "direction", "z_score", "share_negative", "mentions", "hashtags"]]
    return [alt.Chart(marks).mark_rule(strokeDash=[4, 3], strokeWidth=2, color="black").encode(
        x="window_start:T", tooltip=["window_start:T", "direction:N", alt.Tooltip("z_score:Q", format=".1f"),
                 alt.Tooltip("share_negative:Q", format=".0%"), "mentions:N", "hashtags:N"])]


def share_donut(shares: pd.DataFrame) -> alt.Chart:
    return alt.Chart(shares).mark_arc(innerRadius=55).encode(
        theta="tweets:Q", color=alt.Color("sentiment:N", scale=COLORS),
        tooltip=["sentiment:N", "tweets:Q", alt.Tooltip("share:Q", format=".1%")]).properties(height=260)


def champion_panel(found: dict | None) -> None:
    st.subheader("Champion model")
    if found is None:
        st.info("No champion in the registry yet: gold is scored by the VADER baseline.")
        return
    metrics = found["metrics"]
    cols = st.columns(4)
    cols[0].metric("Champion", f"{found['candidate']} v{found['version']}")
    for col, name in zip(cols[1:], ("macro_recall", "accuracy", "macro_f1")):
        col.metric(name, f"{metrics[name]:.3f}" if name in metrics else "–")
    st.caption(f"evaluated on {int(metrics.get('n', 0)):,} labeled tweets at "
               f"{metrics.get('tweets_per_s', 0):,.0f} tweets/s; registered {found['registered']:%Y-%m-%d %H:%M} UTC")


@st.fragment(run_every=REFRESH_S)
def live() -> None:
    snap = data.snapshot()
    if snap.gold is None:
        st.info(f"No gold table yet under {snap.root}; it appears after the first micro-batch.")
        return
    counts = snap.counts
    cols = st.columns(4)
    cols[0].metric("Scored tweets", f"{counts['total']:,}")
    for col, label in zip(cols[1:], data.LABELS):
        col.metric(label.capitalize(), f"{counts[label]:,}", help=f"{counts[label] / (counts['total'] or 1):.1%}")
    st.caption(f"gold Delta version {snap.gold_version} · read {snap.read_at:%Y-%m-%d %H:%M:%S} UTC · "
               f"refreshes every {REFRESH_S:g} s · lake {snap.root}")

    left, right = st.columns([3, 1])
    with left:
        st.subheader("Sentiment over time")
        if snap.trends is not None and not snap.trends.empty:
            trends = snap.trends.sort_values("window_start")
            st.altair_chart(over_time(trends, snap.spikes), width="stretch")
            if "share_negative" in trends.columns:
                st.altair_chart(negative_share(trends, snap.spikes), width="stretch")
        else:
            st.info("sentiment_trends has not been materialized yet.")
    with right:
        st.subheader("Share of each sentiment")
        shares = data.shares(counts)
        st.altair_chart(share_donut(shares), width="stretch")
        st.dataframe(shares.assign(share=shares["share"].map("{:.1%}".format)), hide_index=True)

    st.subheader("Spikes in negative share")
    if snap.spikes is None:
        st.info("sentiment_spikes has not been materialized yet.")
    elif snap.spikes.empty:
        st.write("No window departs from its rolling baseline by more than z standard deviations.")
    else:
        shown = snap.spikes.sort_values("window_start", ascending=False).assign(
            top_mentions=lambda s: s["top_mentions"].map(", ".join),
            top_hashtags=lambda s: s["top_hashtags"].map(", ".join))
        st.dataframe(shown[["window_start", "direction", "negative", "total", "share_negative",
                            "baseline_share_negative", "z_score", "top_mentions", "top_hashtags"]], hide_index=True)

    drift.section(data.read_table(snap.root, drift.TABLE)[0])

    negative, positive = st.columns(2)
    with negative:
        st.subheader("Top negative mentions")
        st.dataframe(data.top_mentions(snap.mentions, "negative"), hide_index=True)
    with positive:
        st.subheader("Top positive mentions")
        st.dataframe(data.top_mentions(snap.mentions, "positive"), hide_index=True)

    st.subheader("Latest scored tweets")
    st.dataframe(data.latest_tweets(snap.gold), hide_index=True)
    champion_panel(snap.champion)


def live_page() -> None:
    st.title("tweetsent · live tweet sentiment")
    live()


st.set_page_config(layout="wide")
st.navigation([st.Page(live_page, title="Live sentiment", url_path="live", default=True),
               st.Page(labeling.page, title="Label tweets", url_path="labeling")], position="top").run()
