"""Champion/challenger decision: paired bootstrap on a shared labelled set, margins and throughput floors."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .stats import METRICS, metric_value, paired_bootstrap

if TYPE_CHECKING:
    from .evaluation import EvaluationResult


@dataclass
class Candidate:
    """One model's evaluation on the shared set; `available=False` with a reason if it failed to load."""

    name: str
    version: str | None
    available: bool
    reason: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    predictions: np.ndarray | None = None
    tweets_per_s: float = 0.0

    @classmethod
    def from_evaluation(cls, name: str, version: str | None, result: EvaluationResult) -> "Candidate":
        """An available candidate from an evaluate() result."""
        return cls(
            name=name, version=version, available=True, metrics=result.metrics(),
            predictions=result.predictions["predicted"].to_numpy(), tweets_per_s=result.tweets_per_s,
        )

    @classmethod
    def unavailable(cls, name: str, version: str | None, reason: str) -> "Candidate":
        """A candidate that could not be loaded or evaluated, with the reason shown in the decision."""
        return cls(name=name, version=version, available=False, reason=reason)


@dataclass
class Decision:
    """Outcome of `decide`; `winner` is the champion after the decision (None if there is none)."""

    promote: bool
    winner: Candidate | None
    previous: Candidate | None
    reason: str
    table: list[dict[str, Any]]


def decide(
    candidates: Sequence[Candidate], champion_name_or_version: str | None, labels: Sequence[str],
    primary_metric: str = "macro_recall", margin: float = 0.01, min_tweets_per_s: float = 0.0,
    n_boot: int = 1000, seed: int = 0,
) -> Decision:
    """Pick the best eligible challenger and promote it only if it beats the champion beyond `margin`.

    Promotion needs the paired-bootstrap lower bound of (challenger - champion) on `primary_metric`
    to exceed `margin`. With no champion the best eligible candidate is promoted outright; an
    unavailable or ineligible champion is kept, since nothing can be shown to beat it fairly.
    """
    if primary_metric not in METRICS:
        raise ValueError(f"primary_metric must be one of {METRICS}, got {primary_metric!r}")
    labels = list(labels)
    champion = _find(candidates, champion_name_or_version)
    scores = {id(c): _score(c, labels, primary_metric) for c in candidates}
    why_not = {id(c): _why_not(c, labels, scores[id(c)], min_tweets_per_s) for c in candidates}
    eligible = [c for c in candidates if not why_not[id(c)]]
    table = [
        {
            "name": c.name, "version": c.version, "available": c.available, primary_metric: scores[id(c)],
            "tweets_per_s": c.tweets_per_s, "eligible": not why_not[id(c)], "why_not": why_not[id(c)],
            "champion": c is champion,
        }
        for c in candidates
    ]
    challenger = max(eligible, key=lambda c: (scores[id(c)], c is champion), default=None)

    def result(promote: bool, winner: Candidate | None, reason: str) -> Decision:
        return Decision(promote=promote, winner=winner, previous=champion, reason=reason, table=table)

    if champion_name_or_version is not None and (champion is None or why_not[id(champion)]):
        problem = "is not among the evaluated candidates" if champion is None else f"is {why_not[id(champion)]}"
        best = f"; best eligible challenger was {_label(challenger)}" if challenger else ""
        return result(False, champion, f"Kept champion {champion_name_or_version}: it {problem}, so no challenger "
                                       f"can be compared with it and the aliases stay where they are{best}.")
    if challenger is None:
        reasons = "; ".join(f"{_label(c)}: {why_not[id(c)]}" for c in candidates) or "no candidates"
        return result(False, champion, f"Nobody promoted: no eligible candidate ({reasons}).")
    if champion is None:
        return result(True, challenger, f"Promoted {_label(challenger)}: there is no current champion and it is the "
                                        f"best eligible candidate ({primary_metric} {scores[id(challenger)]:.4f}); "
                                        "bootstrap skipped (nothing to compare with).")
    if challenger is champion:
        return result(False, champion, f"Kept champion {_label(champion)}: no eligible challenger beats its "
                                       f"{primary_metric} of {scores[id(champion)]:.4f}.")
    mean, lower, upper = paired_bootstrap(
        labels, champion.predictions, challenger.predictions, primary_metric, n_boot=n_boot, seed=seed,
    )
    observed = scores[id(challenger)] - scores[id(champion)]
    summary = (f"{_label(challenger)} vs champion {_label(champion)}: {primary_metric} {scores[id(challenger)]:.4f} vs "
               f"{scores[id(champion)]:.4f} (diff {observed:+.4f}, bootstrap mean {mean:+.4f}, "
               f"95% CI [{lower:+.4f}, {upper:+.4f}])")
    if observed > 0 and lower > margin:
        return result(True, challenger, f"Promoted {summary}; the CI lower bound {lower:+.4f} exceeds "
                                        f"the margin {margin:.4f}.")
    return result(False, champion, f"Kept champion: {summary}; the CI lower bound {lower:+.4f} does not exceed "
                                   f"the margin {margin:.4f}.")


def _find(candidates: Sequence[Candidate], key: str | None) -> Candidate | None:
    if key is None:
        return None
    by_version = [c for c in candidates if c.version is not None and str(c.version) == str(key)]
    return (by_version or [c for c in candidates if c.name == key] or [None])[0]


def _score(candidate: Candidate, labels: list[str], metric: str) -> float | None:
    if metric in candidate.metrics:
        return float(candidate.metrics[metric])
    if candidate.available and candidate.predictions is not None and len(candidate.predictions) == len(labels):
        return metric_value(labels, candidate.predictions, metric)
    return None


def _why_not(candidate: Candidate, labels: list[str], score: float | None, floor: float) -> str:
    if not candidate.available:
        return f"unavailable ({candidate.reason or 'no reason given'})"
    if candidate.predictions is None or len(candidate.predictions) != len(labels):
        return "predictions missing or not aligned with the evaluation labels"
    if score is None:
        return "no score"
    if candidate.tweets_per_s < floor:
        return f"too slow ({candidate.tweets_per_s:.1f} tweets/s < floor {floor:.1f})"
    return ""


def _label(candidate: Candidate | None) -> str:
    if candidate is None:
        return "none"
    return candidate.name if candidate.version is None else f"{candidate.name} (v{candidate.version})"
