"""The labeling page in a headless Chromium: each label lands in the labels file once, a skip writes nothing.

Two tabs are two Streamlit sessions: both click a label on the same first tweet at once, and
exactly one row is written; the other tab says the tweet was already labeled and moves on.
"""
from __future__ import annotations

import pandas as pd

from dashboard import label_store

from .browser import DevTools, chromium, click_button, navigate, needs_chromium, open_tab, screenshot, streamlit_app, \
    wait_for
from .labeling_queue import write_queue


def shows(tools: DevTools, tweet_id: str) -> str:
    """Wait until the page shows queue tweet `tweet_id` and nothing is faded by a re-run; the page's text."""
    return wait_for(lambda: (text := tools.evaluate("document.body.innerText")) and f"tweet {tweet_id} · rank" in text
                    and tools.evaluate('document.querySelectorAll(\'[data-stale="true"]\').length') == 0 and text,
                    60, f"the page to show tweet {tweet_id}")


def written(folder) -> list[tuple[str, str]]:
    path = label_store.labels_path(folder)
    frame = pd.read_csv(path, dtype=str) if path.exists() else pd.DataFrame(columns=["id", "label"])
    return list(zip(frame["id"], frame["label"]))


@needs_chromium
def test_labeling_page_in_headless_chromium(tmp_path):
    folder = tmp_path / "data" / "active_learning"
    write_queue(folder)
    with streamlit_app(str(tmp_path / "lake"), f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "data") as url, \
            chromium(tmp_path / "profile") as ws:
        tabs = [DevTools(ws), open_tab(ws)]
        for tools in tabs:
            navigate(tools, f"{url}labeling")
            shows(tools, "t0")
        assert written(folder) == []
        click_button(tabs[0], "negative")
        click_button(tabs[1], "positive")
        texts = [shows(tools, "t1") for tools in tabs]
        late = ["already labeled" in text for text in texts]
        assert sorted(late) == [False, True], texts
        assert written(folder) == [("t0", "positive" if late[0] else "negative")]

        click_button(tabs[0], "neutral")
        shows(tabs[0], "t2")
        assert written(folder)[1:] == [("t1", "neutral")]
        click_button(tabs[0], "skip")
        shows(tabs[0], "t3")
        assert len(written(folder)) == 2
        navigate(tabs[1], f"{url}labeling")
        shows(tabs[1], "t2")

        path = screenshot(tabs[0], tmp_path / "labeling.png", 1000)
        for tools in tabs:
            tools.socket.close()
    print(f"labeling screenshot: {path}")
