import json

from orchestration.dbt.deps import deps_needed, record_deps
from orchestration.dbt.run_results import DbtRunResult, NodeResult


def node(name: str, status: str) -> NodeResult:
    return NodeResult(
        f"model.p.{name}", name, "model", status, 0.1, None, "boom" if status == "error" else ""
    )


def test_no_op_and_reused_count_as_success():
    result = DbtRunResult(
        "build", True, [node("a", "no-op"), node("b", "reused"), node("c", "success")]
    )
    assert result.failed_nodes == []
    assert result.count("model", ok_only=True) == 3


def test_failure_message_names_only_failed_nodes():
    result = DbtRunResult("build", False, [node("ok_model", "success"), node("bad_model", "error")])
    assert result.failure_message() == "dbt build failed: model bad_model error: boom"


def test_deps_fingerprint(tmp_path):
    assert not deps_needed(tmp_path)  # no packages file: nothing to install
    (tmp_path / "packages.yml").write_text("packages: []\n")
    assert deps_needed(tmp_path)
    record_deps(tmp_path)
    assert not deps_needed(tmp_path)
    (tmp_path / "package-lock.yml").write_text("packages: []\nsha1_hash: abc\n")
    assert deps_needed(tmp_path)


def test_a_retry_uses_only_run_results_written_by_an_earlier_attempt(tmp_path):
    """A killed attempt leaves an older invocation's run_results.json (or none): `dbt retry`
    would replay that invocation's failures, so only results written since the run started
    count."""
    from datetime import UTC, datetime, timedelta

    from orchestration.dbt.run_results import run_results_since

    started = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    assert not run_results_since(tmp_path, started)  # none: a new pod
    results = tmp_path / "run_results.json"
    for written, counts in ((started - timedelta(minutes=5), False), (started, True)):
        stamp = written.isoformat().replace("+00:00", "Z")
        results.write_text(json.dumps({"metadata": {"generated_at": stamp}, "results": []}))
        assert run_results_since(tmp_path, started) is counts
    results.write_text("{not json")
    assert not run_results_since(tmp_path, started)
