"""docqa.supervisor with real child processes: a crashed child is restarted after a pause that
doubles up to a cap, a child that ran well starts its count again, and one that keeps dying
right after it starts makes the supervisor give up (exit code 1) and stop the others."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from docqa.supervisor import Backoff, Supervisor, describe_exit

SECRET = "sk-do-not-log-this-0123456789"
CRASH = [sys.executable, "-c", "import sys; sys.exit(3)"]
STEADY = [sys.executable, "-c", "import time; time.sleep(60)"]


def _supervisor(children, backoff: Backoff, lines: list[str]) -> Supervisor:
    env = {"PATH": "/usr/bin:/bin", "MOONSHOT_API_KEY": SECRET}
    return Supervisor(
        {name: (argv, env) for name, argv in children.items()},
        cwd=Path(__file__).resolve().parent.parent,
        backoff=backoff,
        log=lines.append,
        poll_seconds=0.02,
    )


def test_a_child_that_keeps_crashing_is_restarted_with_capped_backoff_then_given_up():
    lines: list[str] = []
    backoff = Backoff(initial=0.1, cap=0.4, stable_after=10, give_up_after=5)
    supervisor = _supervisor({"flaky": CRASH, "steady": STEADY}, backoff, lines)
    supervisor.start()
    started = time.monotonic()
    assert supervisor.run(lambda: time.monotonic() - started > 30) == 1
    assert time.monotonic() - started < 10

    log = "\n".join(lines)
    pauses = re.findall(
        r"flaky exited with code 3 after [\d.]+ s; restarting it in ([\d.]+) s", log
    )
    assert pauses == ["0.1", "0.2", "0.4", "0.4"]  # doubling, capped
    assert log.count("flaky restarted") == 4
    assert "flaky exited with code 3" in lines[-1] and "Giving up" in lines[-1]
    assert "5 times in a row" in lines[-1]
    assert supervisor.gave_up == "flaky"
    # Everything else was stopped with it; nothing secret reached the log.
    steady = next(c for c in supervisor.children if c.name == "steady")
    assert steady.proc is not None and steady.proc.poll() is not None
    assert steady.restarts == 0
    assert SECRET not in log and "import" not in log


def test_a_child_that_ran_well_before_it_died_starts_its_count_again():
    lines: list[str] = []
    dies_later = [sys.executable, "-c", "import time, sys; time.sleep(0.4); sys.exit(1)"]
    backoff = Backoff(initial=0.05, cap=1.0, stable_after=0.3, give_up_after=2)
    supervisor = _supervisor({"worker": dies_later}, backoff, lines)
    supervisor.start()
    child = supervisor.children[0]
    assert supervisor.run(lambda: child.restarts >= 3) == 0
    assert supervisor.gave_up is None
    assert child.crashes_in_a_row == 1
    assert all(
        "restarting it in 0.05 s (crash 1 in a row)" in line for line in lines if "exited" in line
    )


def test_exits_are_described_by_code_or_signal():
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-9) == "was killed by SIGKILL"
