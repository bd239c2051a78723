"""Hand-built inputs for the report tests. FIXTURES with round numbers so golden values can be
worked out by hand — never measurements, never presented as such (their CPU is "fixture")."""

from __future__ import annotations

from pathlib import Path

from configspec.profiles.drafting import BatchPoint, DecodeAtContext, DraftCell, Prefill
from configspec.profiles.io import save_profile
from configspec.profiles.summary import Summary
from tests import builders as b


def cell_with_spread(
    quant: str, tok_s: list[float], source: str = "estimated:fixture"
) -> DraftCell:
    """A drafting cell whose repetitions differ, so its 95% CI is not empty."""
    decode = [
        DecodeAtContext(
            context_tokens=ctx,
            decode_tokens=4,
            tokens_per_s=Summary.of([v * scale for v in tok_s]),
            step_s=[[1.0 / (v * scale)] * 4 for v in tok_s],
            energy_j_per_token=Summary.of([5.0 / (v * scale) for v in tok_s]),
            power_w=Summary.of([5.0] * len(tok_s)),
            power_source=source,
        )
        for ctx, scale in ((16, 1.0), (512, 0.5))
    ]
    return DraftCell(
        draft="d", target=b.TARGET, quant=quant, file=f"/models/d-{quant}.gguf",
        file_sha256=f"{quant.lower()}-sha", file_bytes=2**20, load_s=0.1, decode=decode,
        batch=[BatchPoint(context_tokens=ctx, tokens=n,
                          latency_s=Summary.of([(1 + 0.5 * (n - 1)) / (v * scale) for v in tok_s]))
               for ctx, scale in ((16, 1.0), (512, 0.5)) for n in b.BATCH_TOKENS],
        prefill=Prefill(prompt_tokens=8, tokens_per_s=Summary.of([100.0, 110.0, 120.0]),
                        samples_s=[0.08, 0.073, 0.067]),
    )  # fmt: skip


def full_results(root: Path, recommend: bool = True, devices: int = 1) -> Path:
    """results/ with a drafting profile per device (edge-a, edge-b, ...; each a little slower than
    the one before), an alignment and a verification profile (and recommendations written by the
    real `configspec recommend` code over them)."""
    for i in range(devices):
        name = "edge-" + "abcdefghijklmnopqrstuvwxyz"[i]
        cells = [
            cell_with_spread("Q4_K_M", [v * (1 - 0.03 * i) for v in (30.0, 33.0, 36.0)]),
            cell_with_spread("Q8_0", [v * (1 - 0.03 * i) for v in (22.0, 25.0, 24.0)]),
        ]
        save_profile(b.drafting_profile(cells, device=name), root / name / "drafting-1.json")
    alignment = b.alignment_profile(
        [b.iid_cell("d", "Q4_K_M", 0.8, taus=(0.3, 0.6)), b.iid_cell("d", "Q8_0", 0.85)]
    )
    save_profile(alignment, root / "server" / "alignment-1.json")
    save_profile(b.verification_profile(), root / "server" / "verification-1.json")
    if recommend:
        from configspec.recommend.command import RecommendOptions
        from configspec.recommend.command import recommend as run_recommend

        run_recommend(RecommendOptions(results=root))
    return root
