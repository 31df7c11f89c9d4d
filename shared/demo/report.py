"""What ``carecoord demo load`` shows: a progress bar while it loads, then a summary — patients,
requests, the archetypes with their patients, open flags by rule, and where to look."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .cohort import Cohort, Member
from .loader import Advance, Loaded


@contextmanager
def progress_bar(console: Console, total: int, patients: int) -> Iterator[Advance]:
    columns = (TextColumn("[bold]loading {task.fields[patients]} synthetic patients"), BarColumn(),
               MofNCompleteColumn(), TextColumn("requests"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("demo", total=total, patients=patients)
        yield lambda n: bar.advance(task, n)


def summary(console: Console, cohort: Cohort, loaded: Loaded, flags: dict[str, int] | None, settled: bool,
            seconds: float, pages_url: str) -> None:
    ok = len(loaded.patient_ids) - len(loaded.failures)
    console.print(f"\n[bold]demo cohort[/bold], seed {cohort.seed}: {ok}/{len(cohort.members)} patients in "
                  f"{', '.join(cohort.clinics)} ({seconds:.0f} s)")
    console.print(f"  events sent: {loaded.recorded} recorded now, {loaded.replayed} already there "
                  f"(times anchored on {loaded.anchor.date().isoformat()})")
    console.print("  each archetype raises its own rule only; controls raise nothing")
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("  archetype", "patients"):
        table.add_column(column)
    for name, members in cohort.manifest().items():
        table.add_row(f"  {name}" if members[0].rule else f"  control: {name}", _patients(members))
    console.print(table)
    if flags is None:
        console.print("  open flags: coordination has no flags endpoint yet")
    else:
        by_rule = ", ".join(f"{rule} {n}" for rule, n in sorted(flags.items())) or "none"
        console.print(f"  open flags by rule: {by_rule}")
    if not settled:
        console.print("  [yellow]coordination is still catching up: the flags above may be incomplete[/yellow]")
    for number, reason in sorted(loaded.failures.items()):
        console.print(f"  [red]patient {number:02d} not fully loaded[/red]: {reason}")
    console.print(f"\n  pages: {pages_url}")


def _patients(members: list[Member]) -> str:
    """``08 34 open · 11 resolved`` for a rule's archetype; the numbers alone for a control."""
    if not members[0].rule:
        return " ".join(f"{m.number:02d}" for m in members)
    groups: dict[str, list[str]] = {}
    for m in members:
        groups.setdefault(m.variant.rsplit("/", 1)[-1], []).append(f"{m.number:02d}")
    return " · ".join(f"{' '.join(numbers)} {outcome}" for outcome, numbers in sorted(groups.items()))
