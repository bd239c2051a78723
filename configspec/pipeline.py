"""`configspec run`: every pipeline step that exists, in order, on the registry."""

from __future__ import annotations

from pathlib import Path

from configspec.profiles.drafting import DraftingSettings
from configspec.profiling.drafting import DEFAULT_BATCH_TOKENS
from configspec.profiling.profile_command import ProfileOptions, profile_drafts
from configspec.progress import console
from configspec.registry import load_registry
from configspec.sources.prepare import prepare_models

RUN_ALIGN_PROMPTS, RUN_ALIGN_TOKENS = 12, 64  # the alignment subset `run` uses


def run_pipeline(models: Path, device: str | None, threads: int) -> None:
    console.rule("1/2 prepare models")
    for line in prepare_models(load_registry(models)):
        console.print(line)
    console.rule("2/2 profile drafting on this device")
    profile_drafts(ProfileOptions(models=models, device=device, settings=DraftingSettings(
        threads=threads, batch_tokens=list(DEFAULT_BATCH_TOKENS))))  # fmt: skip
    # Alignment on a small subset (2 prompts of each kind) so a first run stays short;
    # `configspec align` runs the full set (docs/alignment.md).
    from configspec.alignment.command import AlignOptions, align
    from configspec.profiles.alignment import AlignmentSettings

    console.rule(f"align with the target ({RUN_ALIGN_PROMPTS} prompts x {RUN_ALIGN_TOKENS} tokens)")
    align(AlignOptions(models=models, n_prompts=RUN_ALIGN_PROMPTS, threads=threads, device=device,
                       settings=AlignmentSettings(new_tokens=RUN_ALIGN_TOKENS)))  # fmt: skip
    # Verification latency on a reduced grid (K 0,1,2,4,8,16; batch 1,2,4; 3 repetitions);
    # `configspec verify-latency` measures K = 0..16 and batch 8 too (docs/verification.md).
    from configspec.profiles.verification import VerifySettings
    from configspec.profiling.verify_command import VerifyOptions, verify_latency

    console.rule("verification latency of the target (reduced grid)")
    verify_latency(VerifyOptions(models=models, threads=threads, device=device,
                                 settings=VerifySettings(ks=[0, 1, 2, 4, 8, 16], contexts=[128, 512],
                                                         batch_sizes=[1, 2, 4], repetitions=3)))  # fmt: skip
    # Last step: turn the newest profiles under results/ into recommendations (one line names
    # any profile still missing).
    from configspec.recommend.command import RecommendOptions, recommend

    console.rule("recommend")
    recommend(RecommendOptions())
    # The very end: the HTML report over everything above, and where to open it.
    from configspec.report.build import write_report

    console.rule("report")
    report = write_report(Path("results"), "latest")
    console.print(f"open the report: {report.resolve()}")
