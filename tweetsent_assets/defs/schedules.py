"""Nightly re-evaluation of every candidate model."""
from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule

from .jobs import evaluate_candidates
from .models.candidates import CANDIDATES


@schedule(job=evaluate_candidates, cron_schedule="0 3 * * *", execution_timezone="UTC",
          default_status=DefaultScheduleStatus.RUNNING,
          description="Re-evaluates every candidate at 03:00 UTC; the champion decision follows.")
def nightly_model_evaluation(context: ScheduleEvaluationContext):
    night = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [RunRequest(run_key=f"{night}-{name}", partition_key=name) for name in CANDIDATES]
