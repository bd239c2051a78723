"""The fleet file: the repository's example loads, relative paths are the file's, mistakes are
one line."""

from __future__ import annotations

import pytest

from configspec.errors import ConfigspecError
from configspec.fleet.spec import load_fleet
from tests.conftest import ROOT


def test_the_example_fleet_file_loads_with_paths_from_its_folder():
    fleet = load_fleet(ROOT / "fleet.yaml")
    assert fleet.alignment == ROOT / "results/fleet/alignment.json"
    assert [g.name for g in fleet.groups] == ["laptops", "tablets", "phones"]
    assert fleet.groups[2].arrival.kind == "open" and fleet.devices == 8
    assert all(g.configured for g in fleet.groups)


@pytest.mark.parametrize(("text", "expected"), [
    ("groups: []", "groups: List should have at least 1 item"),
    ("groups: [{name: a, drafting: d.json}, {name: a, drafting: d.json}]", "repeated: a"),
    ("groups: [{name: a, drafting: d.json, arrival: {kind: open}}]", "needs sessions_per_s"),
    ("groups: [{name: a, drafting: d.json, policy: {k_max: 0}}]", "k_max is 1 to 64"),
    ("groups: [{name: a, drafting: d.json, policy: {k: 4}}]", "unknown policy field(s) k"),
    ("groups: [{name: a, drafting: d.json, colour: red}]", "unknown key"),
])  # fmt: skip
def test_mistakes_are_one_line(tmp_path, text, expected):
    path = tmp_path / "fleet.yaml"
    path.write_text(f"schema_version: 1\nalignment: a.json\n{text}\n")
    with pytest.raises(ConfigspecError) as error:
        load_fleet(path)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_a_missing_fleet_file_is_named(tmp_path):
    with pytest.raises(ConfigspecError, match="fleet file .*nope.yaml not found"):
        load_fleet(tmp_path / "nope.yaml")
