"""Periodic jobs, enqueued by RQ's CronScheduler (`python -m jobs.cron`)."""

from jobs import charges, heartbeat, hold_checks, hold_lapses, preauth_sweeper, reminders

# (function, interval in seconds)
PERIODIC_JOBS = [
    (heartbeat.run, 60),
    (reminders.run, 3600),
    (preauth_sweeper.run, 60),
    (charges.sweep, 60),  # settle stale pending payments, re-enqueue lost automation runs
    (hold_lapses.run, 300),  # renew holds that would lapse before their visit
    (hold_checks.reconcile, 600),  # live holds at the gateway against the rows
]
