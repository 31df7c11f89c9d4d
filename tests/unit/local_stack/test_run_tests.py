"""``make test``'s two passes: every test but the ``alone`` ones in worker processes, then those
alone; the exit code is the first failure, and "no tests collected" only when neither pass
collected a test."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "local"))
from run_tests import NO_TESTS, combined, passes


def test_the_parallel_pass_leaves_out_the_alone_tests_which_run_after_it_in_one_process() -> None:
    (_, first), (_, second) = passes(["-x", "tests/integration"], workers=2)
    assert first == ["-x", "tests/integration", "-n", "2", "--dist", "loadfile", "--no-loadscope-reorder",
                     "-m", "not alone"]
    assert second == ["-x", "tests/integration", "-m", "alone"]


def test_one_worker_runs_the_first_pass_without_xdist() -> None:
    (_, first), _ = passes([], workers=1)
    assert first == ["-m", "not alone"]


def test_markers_or_processes_chosen_by_hand_make_one_plain_run() -> None:
    for argv in (["-m", "alone"], ["-n", "4"], ["-n4"], ["--numprocesses=3"], ["-mslow"]):
        assert passes(argv, workers=2) == [("as asked", argv)]


def test_the_exit_code_is_the_first_failure_and_no_tests_only_when_no_pass_had_any() -> None:
    assert combined([0, 0]) == 0
    assert combined([0, NO_TESTS]) == 0  # a path with no alone test
    assert combined([NO_TESTS, 0]) == 0  # a path with alone tests only
    assert combined([NO_TESTS, NO_TESTS]) == NO_TESTS
    assert combined([1, 0]) == 1 and combined([0, 2]) == 2 and combined([NO_TESTS, 1]) == 1
