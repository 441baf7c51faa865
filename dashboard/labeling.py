"""The labeling page: the active-learning queue one tweet at a time, each label appended for the next model.

Skips last for the browser session only; labels go through label_store, which never writes one twice.
"""
import streamlit as st

import label_store
from tweetsent_assets.lib.insights.active_learning import labeled_ids
from tweetsent_assets.lib.ml.models.labels import LABELS

SKIPPED, NOTICE = "labeling_skipped", "labeling_notice"


def page() -> None:
    """The first tweet neither labeled (in any tab or file) nor skipped here, with a button per label and a skip."""
    st.title("tweetsent · label tweets")
    folder = label_store.active_learning_dir()
    queue = label_store.read_queue(folder)
    labeled = labeled_ids(folder)
    skipped = st.session_state.setdefault(SKIPPED, set())
    if NOTICE in st.session_state:
        kind, message = st.session_state.pop(NOTICE)
        getattr(st, kind)(message)
    st.caption(f"{len(labeled & set(queue['id']))} of {len(queue)} queued tweets labeled · {len(skipped)} skipped "
               f"in this tab · labels go to {label_store.labels_path(folder)}")
    if queue.empty:
        st.info(f"No queue at {folder / 'queue.csv'} yet: materialize active_learning_queue first.")
        return
    tweet = label_store.next_tweet(queue, labeled | skipped)
    if tweet is None:
        st.success("Every queued tweet is labeled or skipped in this tab.")
        return
    with st.container(border=True):
        st.caption(f"tweet {tweet['id']} · rank {tweet.get('rank', '?')} · {tweet.get('user', '')}")
        st.text(tweet["text"])
    st.markdown(f"The model says **{tweet['champion_label']}** with confidence {_confidence(tweet['champion_score'])}.")
    columns = st.columns(len(LABELS) + 1)
    for column, label in zip(columns, LABELS):
        column.button(label, key=f"label-{label}", on_click=_label, args=(folder, tweet, label), width="stretch")
    columns[-1].button("skip", key="skip", on_click=skipped.add, args=(tweet["id"],), width="stretch")


def _label(folder, tweet: dict, label: str) -> None:
    if label_store.append_label(folder, tweet, label):
        st.session_state[NOTICE] = ("success", f"Tweet {tweet['id']} labeled {label}.")
    else:
        st.session_state[NOTICE] = ("warning", f"Tweet {tweet['id']} was already labeled (in another tab or file); "
                                               "moved on without writing.")


def _confidence(score: str) -> str:
    try:
        return f"{float(score):.0%}"
    except ValueError:
        return score or "unknown"
