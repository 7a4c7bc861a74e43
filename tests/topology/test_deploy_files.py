"""The files under deploy/ agree with each other, with the app's settings and with the README.

Quick checks, no servers: the topology test (test_production.py) runs what they describe.
"""

import re
import runpy
import shutil
import subprocess

import pytest

from tests.servers import IN_CI
from tests.topology import readme
from tests.topology.harness import CHECKOUT, ENV_EXAMPLE, UNITS, read_env_file, read_unit
from webapp.config import PREAUTH_JOB_TIMEOUT_SECONDS, gateway_call_worst_case, load_settings

EXAMPLE = dict(read_env_file(ENV_EXAMPLE))
LONG_RUNNING = ("covered-web.service", "covered-worker@.service", "covered-cron.service")


def gunicorn_settings(monkeypatch) -> dict:
    monkeypatch.setenv("PORT", EXAMPLE["PORT"])
    monkeypatch.setenv("WEB_CONCURRENCY", EXAMPLE["WEB_CONCURRENCY"])
    return runpy.run_path(str(CHECKOUT / "deploy" / "gunicorn.conf.py"))


def test_every_readme_line_is_known_and_every_rule_is_used():
    steps = readme.production_steps()
    assert [step.name for step in steps] == [
        "install", "database", "settings", "practice", "services", "proxy", "backups",
    ]  # fmt: skip
    used = {readme.rule_for(line)[0].pattern for step in steps for line in step.lines}
    assert used == {rule.pattern for rule in readme.LINE_RULES}


def test_a_readme_line_no_rule_knows_fails_loudly():
    with pytest.raises(LookupError, match="no rule for the README line: sudo rm -rf /srv"):
        readme.rule_for("sudo rm -rf /srv")


def test_the_settings_example_is_a_valid_production_configuration(monkeypatch, tmp_path):
    for key in ("SESSION_COOKIE_SECURE", "STRIPE_API_BASE", "STRIPE_JS_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in EXAMPLE.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(tmp_path)
    assert settings["COVERED_ENV"] == "production"
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert not (tmp_path / "secret_key").exists()


def test_every_setting_in_the_example_is_documented_in_the_readme():
    table = readme.README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)`", table, re.MULTILINE))
    documented |= set(re.findall(r"`(MAIL_[A-Z_]+)`", table))
    assert set(EXAMPLE) - documented == set()


def test_gunicorn_outlasts_the_slowest_payment_call_twice(monkeypatch):
    gunicorn = gunicorn_settings(monkeypatch)
    worst = gateway_call_worst_case(
        int(EXAMPLE["STRIPE_TIMEOUT_SECONDS"]), int(EXAMPLE["STRIPE_MAX_NETWORK_RETRIES"])
    )
    assert gunicorn["timeout"] >= 2 * worst
    assert gunicorn["bind"] == f"127.0.0.1:{EXAMPLE['PORT']}"
    assert gunicorn["workers"] == int(EXAMPLE["WEB_CONCURRENCY"])
    assert f"{gunicorn['timeout']}-second timeout" in readme.README.read_text()


def test_nginx_proxies_to_gunicorn_and_waits_longer_than_it(monkeypatch):
    gunicorn = gunicorn_settings(monkeypatch)
    nginx = (CHECKOUT / "deploy" / "nginx" / "covered.conf").read_text()
    assert re.findall(r"proxy_pass (\S+);", nginx) == [f"http://{gunicorn['bind']}"]
    (read_timeout,) = re.findall(r"proxy_read_timeout (\d+)s;", nginx)
    assert int(read_timeout) > gunicorn["timeout"]
    assert "X-Forwarded-Proto $scheme" in nginx and "server_tokens off" in nginx


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_each_process_starts_through_deploy_covered_and_restarts_alone(name):
    unit = read_unit(UNITS / name)
    assert unit.get("ExecStart").startswith("/srv/covered/deploy/covered ")
    assert unit.get("WorkingDirectory") == "/srv/covered"
    assert (unit.get("Restart"), unit.get("User")) == ("always", "covered")
    assert unit.get("KillMode") == "mixed"  # SIGTERM to the main process: a warm shutdown


def test_a_stopping_worker_may_finish_the_longest_job_and_the_web_its_requests(monkeypatch):
    worker = read_unit(UNITS / "covered-worker@.service")
    web = read_unit(UNITS / "covered-web.service")
    assert worker.stop_seconds > PREAUTH_JOB_TIMEOUT_SECONDS
    assert web.stop_seconds > gunicorn_settings(monkeypatch)["graceful_timeout"]
    assert web.get("Type") == "notify"  # gunicorn says READY=1 once it listens


def test_the_backup_unit_writes_where_the_readme_and_the_restore_check_look():
    unit = read_unit(UNITS / "covered-backup.service")
    assert unit.get("Type") == "oneshot"
    assert (
        unit.get("ExecStart").split()[-2] == unit.get("ReadWritePaths") == ("/var/backups/covered")
    )
    text = readme.README.read_text()
    assert "restore-check.sh /var/backups/covered" in text


@pytest.mark.parametrize("script", ["covered", "backup.sh", "restore-check.sh"])
def test_the_shell_scripts_parse(script):
    subprocess.run(["sh", "-n", str(CHECKOUT / "deploy" / script)], check=True)


def test_systemd_accepts_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if IN_CI:
            pytest.fail("systemd-analyze is missing")
        pytest.skip("systemd-analyze is not installed")
    names = []
    for path in UNITS.iterdir():
        text = path.read_text().replace("/srv/covered", str(CHECKOUT))
        name = path.name.replace("@.service", "@1.service")
        (tmp_path / name).write_text(text)
        names.append(f"./{name}")
    done = subprocess.run(
        [analyze, "verify", "--man=no", *sorted(names)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
