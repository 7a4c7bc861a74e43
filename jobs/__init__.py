"""RQ jobs. Each module has `run(<primitive ids>)` calling a service.

The Flask app is built lazily, the first time a job runs in a worker process,
never at import time. Nothing under webapp/ imports this package: the app sends
jobs by dotted path (`webapp.services.queue.enqueue("jobs.preauth.run", …)`).
"""

import functools

from flask import current_app, has_app_context

from webapp import create_app

_app = None


def get_app():
    """The app of the test that pushed a context, else one built once for this process."""
    global _app
    if _app is None:
        try:
            _app = current_app._get_current_object()
        except RuntimeError:
            _app = create_app()
    return _app


def with_app_context(func):
    """Run the job inside an app context (reusing one if a test already pushed it)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return func(*args, **kwargs)
        with get_app().app_context():
            return func(*args, **kwargs)

    return wrapper
