from orchestration.dbt.deps import deps_needed, record_deps
from orchestration.dbt.results import DbtRunResult, NodeResult


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
