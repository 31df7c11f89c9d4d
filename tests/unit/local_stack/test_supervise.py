"""The local stack's supervisor: an exited child is started again after a backoff that doubles
to its cap, and starts over once the child has been healthy long enough."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "local"))
from supervise import Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def exiting(code: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"], start_new_session=True)
    proc.wait()
    return proc


def killed() -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc


def test_an_exited_child_is_restarted_with_a_doubling_capped_backoff_reset_after_health() -> None:
    clock, said = Clock(), []
    sup = Supervisor(initial=0.5, maximum=2.0, healthy_after=60.0, say=said.append, clock=clock)
    child = sup.add("svc", lambda: exiting(3))
    delays = []
    for _ in range(5):
        sup.poll()  # notices the exit
        assert child.restart_at is not None and not sup.running("svc")
        delays.append(child.restart_at - clock.now)
        clock.now = child.restart_at - 0.01
        sup.poll()
        assert child.restart_at is not None, "restarted before its delay"
        clock.now = child.restart_at
        sup.poll()  # starts it again
        assert child.restart_at is None
    assert delays == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert child.restarts == 5 and [code for _, code in child.exits] == [3] * 5
    assert any("svc exited with code 3" in line for line in said)
    assert any("svc restarted" in line for line in said)

    clock.now += 61  # it ran a minute: the next exit is a new failure, the backoff starts over
    sup.poll()
    assert child.restart_at is not None and child.restart_at - clock.now == 0.5


def test_a_running_child_is_left_alone_and_stopped_on_request() -> None:
    sup = Supervisor(say=lambda _: None)
    child = sup.add("sleeper", lambda: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                                        start_new_session=True))
    sup.poll()
    assert sup.running("sleeper") and child.restarts == 0
    sup.stop(timeout=5)
    assert child.proc.poll() is not None


def test_the_status_file_follows_every_exit_and_restart_and_goes_with_the_supervisor(tmp_path: Path) -> None:
    clock = Clock()
    status_file = tmp_path / "supervise" / "status.json"
    sup = Supervisor(initial=0.5, say=lambda _: None, clock=clock, wall=lambda: 1_800_000_000.0 + clock.now,
                     status_file=status_file)
    child = sup.add("assessment", killed)
    first = json.loads(status_file.read_text())["services"]["assessment"]
    assert first == {"state": "running", "pid": child.proc.pid, "started_at": "2027-01-15T08:00:00+00:00",
                     "restarts": 0, "last_exit": None}

    clock.now = 10.0
    sup.poll()  # notices the exit
    waiting = json.loads(status_file.read_text())["services"]["assessment"]
    assert waiting["state"] == "restarting"
    assert waiting["last_exit"] == {"at": "2027-01-15T08:00:10+00:00", "code": -9}

    clock.now = 10.5
    sup.poll()  # starts it again
    status = json.loads(status_file.read_text())
    again = status["services"]["assessment"]
    assert again["state"] == "running" and again["restarts"] == 1 and again["pid"] == child.proc.pid
    assert again["started_at"] == "2027-01-15T08:00:10+00:00"  # 10.5 s: the seconds are cut
    assert status["written_at"] == "2027-01-15T08:00:10+00:00"
    assert not list(status_file.parent.glob(".*")), "no draft left beside the file"

    sup.stop(timeout=5)
    assert not status_file.exists()


def test_make_status_prints_the_supervisor_s_word(tmp_path: Path) -> None:
    import stack

    path = tmp_path / "status.json"
    assert stack.supervised_lines(path) == []
    path.write_text(json.dumps({"written_at": "2027-01-15T08:00:10+00:00", "services": {
        "pharmacy": {"state": "running", "pid": 41, "restarts": 2, "last_exit": {"at": "2027-01-15T08:00:09+00:00",
                                                                                   "code": -9}},
        "therapy": {"state": "running", "pid": 42, "restarts": 0, "last_exit": None}}}))
    lines = stack.supervised_lines(path)
    assert "as of 2027-01-15T08:00:10+00:00" in lines[0]
    assert "pharmacy" in lines[1] and "restarts 2" in lines[1]
    assert "last exit code -9 at 2027-01-15T08:00:09" in lines[1]
    assert "therapy" in lines[2] and "restarts 0" in lines[2] and "last exit" not in lines[2]
    path.write_text("{not json")
    assert stack.supervised_lines(path) == []
