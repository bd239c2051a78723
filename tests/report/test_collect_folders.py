"""The report reads this deployment's results, not the regression gate's reference files."""

from __future__ import annotations

from configspec.profiles.discover import candidates


def test_gate_folders_and_temporary_files_are_left_out(tmp_path):
    for rel in ("dev/drafting-1.json", "baselines/demo-drafting.json", "ci/drafting.json",
                "dev/.drafting-1.json.abc.tmp.json", "alignment-2.json"):  # fmt: skip
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    found = [p.relative_to(tmp_path).as_posix() for p in candidates(tmp_path)]
    assert found == ["alignment-2.json", "dev/drafting-1.json"]
