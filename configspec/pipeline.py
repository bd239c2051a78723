"""`configspec run`: every pipeline step, in order and numbered, on the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from configspec.progress import console

RUN_ALIGN_PROMPTS, RUN_ALIGN_TOKENS = 12, 64  # the alignment subset `run` uses


@dataclass
class RunOptions:
    models: Path = Path("models.yaml")
    device: str | None = None  # default: the hostname
    threads: int = 2


def _prepare(o: RunOptions) -> None:
    from configspec.registry import load_registry
    from configspec.sources.prepare import prepare_models

    for line in prepare_models(load_registry(o.models)):
        console.print(line)


def _profile(o: RunOptions) -> None:
    from configspec.profiles.drafting import DraftingSettings
    from configspec.profiling.drafting import DEFAULT_BATCH_TOKENS
    from configspec.profiling.profile_command import ProfileOptions, profile_drafts

    settings = DraftingSettings(threads=o.threads, batch_tokens=list(DEFAULT_BATCH_TOKENS))
    profile_drafts(ProfileOptions(models=o.models, device=o.device, settings=settings))


def _align(o: RunOptions) -> None:
    # A small subset (2 prompts of each kind) so a first run stays short; `configspec align`
    # runs the full set (docs/alignment.md).
    from configspec.alignment.command import AlignOptions, align
    from configspec.profiles.alignment import AlignmentSettings

    align(AlignOptions(models=o.models, n_prompts=RUN_ALIGN_PROMPTS, threads=o.threads,
                       device=o.device, settings=AlignmentSettings(new_tokens=RUN_ALIGN_TOKENS)))  # fmt: skip


def _verify(o: RunOptions) -> None:
    # A reduced grid: every K = 0..16 at batch 1, which every recommendation reads (a CPU's cost
    # is not linear in K, docs/verification.md), K 0,1,2,4,8,16 at batch 2 and 4; 3 repetitions.
    # `configspec verify-latency` measures every K at batch 8 too.
    from configspec.profiles.verification import VerifySettings
    from configspec.profiling.verify_command import VerifyOptions, verify_latency

    settings = VerifySettings(ks=list(range(17)), batched_ks=[0, 1, 2, 4, 8, 16],
                              contexts=[128, 512], batch_sizes=[1, 2, 4], repetitions=3)  # fmt: skip
    verify_latency(VerifyOptions(models=o.models, threads=o.threads, device=o.device,
                                 settings=settings))  # fmt: skip


def _recommend(o: RunOptions) -> None:
    # The newest profiles under results/ (one line names any profile still missing).
    from configspec.recommend.command import RecommendOptions, recommend

    recommend(RecommendOptions())


def _report(o: RunOptions) -> None:
    from configspec.report.build import write_report

    report = write_report(Path("results"), "latest")
    console.print(f"open the report: {report.resolve()}")


STEPS: list[tuple[str, Callable[[RunOptions], None]]] = [
    ("prepare models", _prepare),
    ("profile drafting on this device", _profile),
    (f"align with the target ({RUN_ALIGN_PROMPTS} prompts x {RUN_ALIGN_TOKENS} tokens)", _align),
    ("verification latency of the target (reduced grid)", _verify),
    ("recommend", _recommend),
    ("report", _report),
]


def run_pipeline(options: RunOptions) -> None:
    for number, (title, step) in enumerate(STEPS, start=1):
        console.rule(f"{number}/{len(STEPS)} {title}")
        step(options)
