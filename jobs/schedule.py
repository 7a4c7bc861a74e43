"""Periodic jobs, enqueued by RQ's CronScheduler (`python -m jobs.cron`)."""

from jobs import heartbeat

# (function, interval in seconds)
PERIODIC_JOBS = [
    (heartbeat.run, 60),
]
