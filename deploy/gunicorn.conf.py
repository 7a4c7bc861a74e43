"""gunicorn settings for Covered (deploy/systemd/covered-web.service).

`timeout` must outlast the slowest request: one payment call against a gateway
that never answers (`webapp.config.gateway_call_worst_case`: 40.5 s with the
default STRIPE_TIMEOUT_SECONDS=10 and STRIPE_MAX_NETWORK_RETRIES=1) plus the
work around it. tests/topology/test_deploy_files.py checks it is at least twice
that worst case, and that nginx waits longer than gunicorn.
"""

import os

bind = f"127.0.0.1:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = 90
graceful_timeout = 30  # a restart lets requests in flight finish
keepalive = 5
accesslog = "-"  # to the journal
errorlog = "-"
# The proxy sets X-Forwarded-*; the app trusts them per its proxy setting (README).
forwarded_allow_ips = "127.0.0.1,::1"
# gunicorn 25+ opens a control socket under $HOME, which the unit keeps read-only.
control_socket_disable = True
