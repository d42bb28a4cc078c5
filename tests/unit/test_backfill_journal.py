"""A backfill's journal: what a retry rebuilds after any ending, read from the lines it kept."""

from __future__ import annotations

from datetime import date

from orchestration.dbt.backfill_journal import MAX_RANGES, Journal, Rebuild
from orchestration.dbt.microbatch import Batch, Days

MARCH = Days(date(2026, 3, 1), date(2026, 3, 31))


def day(n: int) -> date:
    return date(2026, 3, n)


def begun(tmp_path, models=("fct", "daily")) -> Journal:
    return Journal.begin(tmp_path, MARCH, ["config.incremental_strategy:microbatch+"], models)


def built(journal: Journal, model: str, *days: int) -> None:
    for n in days:
        journal.record(Batch(model, f"{day(n)} 00:00:00", "success"))


def test_a_kill_mid_model_resumes_its_days_then_builds_its_dependent_whole(tmp_path):
    journal = begun(tmp_path)
    built(journal, "fct", *range(1, 11))
    journal.record(Batch("fct", f"{day(11)}", "error", error="boom"))  # failed: not built

    again = Journal.latest(tmp_path)

    assert again is not None and not again.finished
    assert again.unfinished() == [
        Rebuild(("fct",), Days(day(11), day(31))),
        Rebuild(("daily",), MARCH),
    ]


def test_models_missing_the_same_days_share_one_dbt_invocation(tmp_path):
    journal = begun(tmp_path)
    built(journal, "fct", *range(1, 20))
    built(journal, "daily", *range(1, 20))
    assert Journal.latest(tmp_path).unfinished() == [
        Rebuild(("fct", "daily"), Days(day(20), day(31)))
    ]


def test_gaps_left_by_concurrent_batches_are_bridged_only_above_the_range_limit(tmp_path):
    journal = begun(tmp_path, models=("fct",))
    missing = [3, 6, 9, 12, 15, 16]  # six ranges, some a day apart from the next
    built(journal, "fct", *(n for n in range(1, 32) if n not in missing))

    rebuilds = Journal.latest(tmp_path).unfinished()

    assert len(rebuilds) == MAX_RANGES
    rebuilt = {d for r in rebuilds for d in r.days}
    assert {day(n) for n in missing} <= rebuilt
    assert sum(r.bridged for r in rebuilds) == len(rebuilt) - len(missing)  # counted


def test_a_line_cut_by_a_kill_is_ignored_and_a_finished_backfill_leaves_nothing(tmp_path):
    journal = begun(tmp_path, models=("fct",))
    built(journal, "fct", 1, 2)
    with journal.path.open("a") as out:
        out.write('{"model": "fct", "da')  # the process died mid-write
    assert Journal.read(journal.path).built == {"fct": {day(1), day(2)}}

    done = begun(tmp_path, models=("fct",))  # a later backfill, finished
    built(done, "fct", *range(1, 32))
    done.finish()
    latest = Journal.latest(tmp_path)
    assert latest.path == done.path and latest.finished and latest.unfinished() == []


def test_a_prefect_retry_finds_its_own_run_not_a_later_backfill(tmp_path):
    mine = Journal.begin(tmp_path, MARCH, [], ["fct"], run_id="run-1")
    Journal.begin(tmp_path, Days(day(1), day(2)), [], ["fct"], run_id="run-2")
    assert Journal.latest(tmp_path, "run-1").path == mine.path
    assert Journal.latest(tmp_path).days == Days(day(1), day(2))
    assert Journal.latest(tmp_path, "run-3") is None
