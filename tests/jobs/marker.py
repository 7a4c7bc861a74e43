"""An RQ job for tests about workers: it leaves its worker's pid under a key in Redis."""

import os


def mark(key: str) -> None:
    from rq import get_current_job

    get_current_job().connection.set(key, os.getpid())
