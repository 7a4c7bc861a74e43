"""Periodic jobs, enqueued by RQ's CronScheduler (`python -m jobs.cron`)."""

from jobs import heartbeat, reminders

# (function, interval in seconds)
PERIODIC_JOBS = [
    (heartbeat.run, 60),
    (reminders.run, 3600),
]
