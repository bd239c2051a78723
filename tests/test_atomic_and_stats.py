"""Atomic result writes and sample summaries."""

from __future__ import annotations

import json

import pytest

from configspec.atomic_io import atomic_open, write_json_atomic
from configspec.profiles.summary import Summary


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "results" / "profile.json"
    write_json_atomic(path, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_open(path) as handle:
            handle.write('{"v": 2, "half')
            raise RuntimeError("crash mid-write")
    assert json.loads(path.read_text()) == {"v": 1}
    assert sorted(p.name for p in path.parent.iterdir()) == ["profile.json"]


def test_interrupted_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "p.json"
    write_json_atomic(path, [1, 2])
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(path) as handle:
            handle.write("[")
            raise KeyboardInterrupt
    assert json.loads(path.read_text()) == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_summary_matches_hand_computation():
    s = Summary.of([10.0, 12.0, 14.0])
    assert s.mean == pytest.approx(12.0)
    assert s.std == pytest.approx(2.0)
    # t_{0.975,2} = 4.302652729911275; half width = t * 2 / sqrt(3)
    assert s.ci95_high - s.mean == pytest.approx(4.302652729911275 * 2 / 3**0.5)
    assert s.samples == [10.0, 12.0, 14.0]
    assert (s.min, s.max, s.n) == (10.0, 14.0, 3)


def test_summary_of_one_and_none():
    assert Summary.of([5.0]).ci95_low == 5.0
    with pytest.raises(ValueError):
        Summary.of([])


def test_atomic_files_get_ordinary_permissions(tmp_path):
    import os

    path = tmp_path / "r.json"
    write_json_atomic(path, {})
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
