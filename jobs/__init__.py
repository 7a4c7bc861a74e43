"""RQ jobs. Each module has `run(<primitive ids>)` calling a service.

The Flask app is built lazily, the first time a job runs in a worker process,
never at import time.
"""

import functools

_app = None


def get_app():
    global _app
    if _app is None:
        from flask import current_app

        try:
            _app = current_app._get_current_object()
        except RuntimeError:
            from webapp import create_app

            _app = create_app()
    return _app


def with_app_context(func):
    """Run the job inside an app context (reusing one if a test already pushed it)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from flask import has_app_context

        if has_app_context():
            return func(*args, **kwargs)
        with get_app().app_context():
            return func(*args, **kwargs)

    return wrapper
