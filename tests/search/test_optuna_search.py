"""Optuna search: finds the exact front's points on a small space, shares studies via storage."""

from __future__ import annotations

import numpy as np
import pytest

from configspec.errors import ConfigspecError
from configspec.profiles.policy import Policy
from configspec.search.exact import Limits, enumerate_device
from configspec.search.optuna_search import _Snapper, open_storage, search_device
from tests.search.spaces import random_space

WEIGHTS = np.ones(3)


def test_optuna_covers_most_of_a_small_exact_front(tmp_path):
    space = random_space(11, 2, 2, 8, 3)  # 2 x 2 x (8 + 3) = 44 configurations
    exact = enumerate_device(space, Limits(), WEIGHTS)
    found = search_device(space, Limits(), WEIGHTS, trials=120, storage=tmp_path / "j.log")
    exact_front = {exact.index(p) for p in exact.front}
    optuna_front = {found.index(p) for p in found.front}
    # every point Optuna calls non-dominated among what it saw and that is truly optimal...
    assert len(exact_front & optuna_front) >= 0.8 * len(exact_front)
    # ...and its per-objective picks are the true optima
    for name in ("goodput", "cost", "energy"):
        assert found.index(found.picks[name]) == exact.index(exact.picks[name])


def test_study_resumes_from_a_journal_file(tmp_path):
    space = random_space(2, 1, 2, 4, 1)
    journal = tmp_path / "study.log"
    search_device(space, Limits(), WEIGHTS, trials=5, storage=journal)
    again = search_device(space, Limits(), WEIGHTS, trials=5, storage=journal)
    assert again.method.startswith("optuna (10 trials,")  # the second run continued the study


def test_rdb_url_storage(tmp_path):
    url = f"sqlite:///{tmp_path / 'o.db'}"
    result = search_device(random_space(4, 1, 1, 3, 0), Limits(), WEIGHTS, trials=4, storage=url)
    assert result.method.startswith("optuna (4 trials,")
    assert (tmp_path / "o.db").is_file()


def test_the_budget_counts_distinct_configurations_not_trials():
    space = random_space(5, 1, 2, 4, 0)  # 8 configurations: trials must repeat some
    calls = []
    found = search_device(space, Limits(), WEIGHTS, trials=200, storage="memory",
                          on_evaluation=lambda: calls.append(1), max_evaluations=6)  # fmt: skip
    assert len(found.rows) == len(calls) == 6
    trials = int(found.method.split("(")[1].split()[0])
    assert 6 <= trials < 200  # stopped by the budget, not by the trial cap


def test_single_objective_uses_tpe_and_finds_the_best_goodput(tmp_path):
    space = random_space(7, 2, 2, 6, 0)
    exact = enumerate_device(space, Limits(), WEIGHTS)
    found = search_device(space, Limits(), WEIGHTS, trials=24, storage="memory",
                          objective="goodput")  # fmt: skip
    assert found.index(found.picks["goodput"]) == exact.index(exact.picks["goodput"])


def test_impossible_constraints_raise_after_search():
    space = random_space(3, 1, 1, 4, 0)
    with pytest.raises(ConfigspecError, match="--min-goodput"):
        search_device(space, Limits(min_goodput_tok_s=1e9), WEIGHTS, trials=5, storage="memory")


def test_unknown_objective_is_refused():
    with pytest.raises(ConfigspecError, match="unknown objective"):
        search_device(random_space(3, 1, 1, 2, 0), Limits(), WEIGHTS, trials=1,
                      storage="memory", objective="speed")  # fmt: skip


def test_snapper_maps_missing_combinations_to_the_nearest_row():
    space = random_space(0, 1, 2, 4, 2)  # thresholds exist only at K = 4
    snap = _Snapper(space)
    i = snap("d0", "q1", Policy(k_max=2, tau=0.2))  # no tau at K = 2 -> same tau at K = 4
    assert (space.draft[i], space.quant[i], space.policy[i]) == (
        "d0",
        "q1",
        Policy.threshold(4, 0.2),
    )


def test_journal_storage_in_an_unwritable_place_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises((ConfigspecError, OSError)):
        open_storage(blocker / "sub" / "j.log")
