"""Optuna search for spaces too large to enumerate: NSGA-II for the three-objective front, TPE
for one objective. Studies live in Optuna storage so many workers can share one study: a
journal file by default (no database needed), or any Optuna RDB URL (sqlite:///x.db,
postgresql://...).

A trial suggests (draft, quant, policy); a combination the profiles do not cover is snapped to
the nearest configuration that exists (same draft first, then quant, tau, closest K), and the
row actually evaluated is recorded on the trial. The study name carries a fingerprint of the
space, so a changed profile or scenario never mixes with an old study.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna

from configspec.analytic.evaluate import evaluate
from configspec.errors import ConfigspecError
from configspec.profiles.policy import Policy
from configspec.search.exact import DeviceResult, Limits, summarise
from configspec.search.space import Space

DEFAULT_STORAGE = Path("results") / "optuna-journal.log"
SINGLE_OBJECTIVES = {"goodput": ("maximize", 0), "cost": ("minimize", 1), "energy": ("minimize", 2)}


def open_storage(storage: str | Path | None):
    """An Optuna storage: an RDB URL as given, else a journal file (created with its folder)."""
    target = str(storage) if storage is not None else str(DEFAULT_STORAGE)
    if "://" in target:
        return target
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as exc:
        raise ConfigspecError(f"cannot open Optuna journal {path}: {exc.strerror}") from exc


def fingerprint(space: Space) -> str:
    h = hashlib.sha256()
    for arr in (space.draft, space.quant, [p.label for p in space.policy]):
        h.update(repr(list(arr)).encode())
    for value in vars(space.inputs).values():
        h.update(np.asarray(value, float).tobytes())
    h.update(repr(space.terms).encode())
    return h.hexdigest()[:12]


class _Snapper:
    """(draft, quant, policy) -> the row index of the nearest configuration that exists."""

    def __init__(self, space: Space):
        self.space = space
        self.k = np.array([p.k_max for p in space.policy], int)
        self.tau = [p.tau for p in space.policy]
        self.exact = {
            (d, q, p): i
            for i, (d, q, p) in enumerate(zip(space.draft, space.quant, space.policy, strict=True))
        }

    def __call__(self, draft: str, quant: str, policy: Policy) -> int:
        hit = self.exact.get((draft, quant, policy))
        if hit is not None:
            return hit
        s = self.space
        other_tau = np.array([t != policy.tau for t in self.tau], float)
        distance = (
            1000.0 * (s.draft != draft) + 100.0 * (s.quant != quant) + 10.0 * other_tau
            + np.abs(self.k - policy.k_max)
        )  # fmt: skip
        return int(np.argmin(distance))


def search_device(
    space: Space, limits: Limits, weights: np.ndarray, trials: int, storage=None,
    objective: str = "all", seed: int | None = 0, study_prefix: str = "configspec",
    on_evaluation: Callable[[], None] | None = None, sampler_name: str = "nsga2",
    population_size: int = 50, max_evaluations: int | None = None,
) -> DeviceResult:  # fmt: skip
    """Run up to `trials` more trials on the device's study and summarise every row it evaluated.

    A trial that lands on a configuration already evaluated in this call reuses its metrics (no
    evaluation). With `max_evaluations`, the search stops once that many distinct configurations
    have been evaluated (or after `trials` trials, whichever comes first)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    snap = _Snapper(space)
    drafts = sorted(set(space.draft))
    quants = sorted(set(space.quant))
    taus = [None, *sorted({p.tau for p in space.policy if p.tau is not None})]
    k_low, k_high = int(snap.k.min()), int(snap.k.max())

    # Policies: (K int, tau categorical) when every K has every tau (a full grid keeps K's order
    # for the sampler); otherwise one categorical over the policies that exist, so no trial is
    # wasted on a combination the alignment profile lacks (thresholds exist only at K_max).
    policies = sorted(set(space.policy), key=lambda p: (p.is_threshold, p.tau or 0.0, p.k_max))
    ks = sorted({p.k_max for p in policies})
    full_grid = len(policies) == len(ks) * len(taus)
    by_label = {p.label: p for p in policies}

    def suggest_policy(trial: optuna.Trial) -> Policy:
        if full_grid:
            k = trial.suggest_int("k", k_low, k_high)
            return Policy(k_max=k, tau=trial.suggest_categorical("tau", taus))
        return by_label[trial.suggest_categorical("policy", list(by_label))]

    def set_constraints(trial: optuna.Trial, goodput: float, usd: float, joules: float) -> None:
        # Optuna's convention: a trial is feasible when every value is <= 0.
        if limits.min_goodput_tok_s is not None:
            trial.set_constraint("min_goodput", limits.min_goodput_tok_s - goodput)
        if limits.max_usd_per_1m_tokens is not None:
            trial.set_constraint("max_cost", usd - limits.max_usd_per_1m_tokens)
        if limits.max_joules_per_token is not None:
            trial.set_constraint("max_joules", joules - limits.max_joules_per_token)

    evaluated: dict[int, tuple[float, float, float]] = {}

    def run_trial(trial: optuna.Trial):
        draft = trial.suggest_categorical("draft", drafts)
        quant = trial.suggest_categorical("quant", quants)
        row = snap(draft, quant, suggest_policy(trial))
        if row not in evaluated:
            m = evaluate(space.inputs.take([row]), space.terms)
            evaluated[row] = (float(m.goodput_tok_s[0]), float(m.usd_per_1m_tokens[0]),
                              float(m.joules_per_token[0]))  # fmt: skip
            if on_evaluation:
                on_evaluation()
        values = evaluated[row]
        trial.set_user_attr("row", row)
        set_constraints(trial, *values)
        if max_evaluations is not None and len(evaluated) >= max_evaluations:
            trial.study.stop()
        if objective == "all":
            return values
        return values[SINGLE_OBJECTIVES[objective][1]]

    if objective == "all" and sampler_name == "tpe":  # multi-objective TPE (MOTPE)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True)
        directions = ["maximize", "minimize", "minimize"]
    elif objective == "all":
        sampler = optuna.samplers.NSGAIISampler(seed=seed, population_size=population_size)
        directions = ["maximize", "minimize", "minimize"]
    elif objective in SINGLE_OBJECTIVES:
        sampler = optuna.samplers.TPESampler(seed=seed)
        directions = [SINGLE_OBJECTIVES[objective][0]]
    else:
        raise ConfigspecError(f"unknown objective {objective!r}; use all, goodput, cost or energy")
    study = optuna.create_study(
        study_name=f"{study_prefix}-{space.device}-{objective}-{fingerprint(space)}",
        storage=open_storage(storage) if storage != "memory" else None, sampler=sampler,
        directions=directions, load_if_exists=True,
    )  # fmt: skip
    study.optimize(run_trial, n_trials=trials, gc_after_trial=False)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    rows = np.array(sorted({int(t.user_attrs["row"]) for t in done}), int)
    metrics = evaluate(space.inputs.take(rows), space.terms)
    method = f"optuna ({len(done)} trials, {len(rows)} configurations evaluated)"
    return summarise(space, rows, metrics, limits, weights, method)
