"""How long `configspec align` takes on the demo pair here, and what acceptance it finds.

Runs the real alignment (configspec.alignment.command.align: the target writes a greedy and a
sampled continuation per prompt, every draft x quantization reads them in one teacher-forced
pass, then runs on from each of its wrong tokens in the greedy one: alignment/rollouts.py) and
prints: wall time and its split (target generation vs each draft's reading), then per
quantization the mean acceptance rate and tokens per round at K = 1, 2, 4, 8 from the traces
(greedy: exact walk; sampled: expected walk with its Monte Carlo 95% spread) next to the i.i.d.
closed form (1 - a^(K+1)) / (1 - a) at the same mean rate a.

    python benchmarks/align_time.py                       # the `configspec run` subset: 12 x 64
    python benchmarks/align_time.py --n-prompts 48 --new-tokens 128   # the default `align` sweep

Other processes sharing the CPU slow it down: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from configspec.alignment.command import AlignOptions, align
from configspec.profiles.alignment import AlignmentSettings
from configspec.profiles.policy import Policy

ROOT = Path(__file__).resolve().parents[1]
SHOWN_K = (1, 2, 4, 8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-prompts", type=int, default=12)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--quants", default=None, help="e.g. Q4_K_M,Q2_K (default: all listed)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp()) / "alignment-bench.json"
    quants = args.quants.split(",") if args.quants else None
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    profile, _ = align(AlignOptions(
        models=ROOT / "models.yaml", drafts=["qwen2.5-coder-0.5b"], quants=quants,
        n_prompts=args.n_prompts, threads=args.threads, device="bench", out=out,
        settings=AlignmentSettings(new_tokens=args.new_tokens),
    ))  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    n_pos = {c.mode: c.n_positions for c in profile.cells}
    print(
        f"\nalign, {args.n_prompts} prompts x {args.new_tokens} new tokens, {args.threads} threads, "
        f"{len(profile.cells) // 2} quantizations: {profile.wall_s:.0f} s wall "
        f"(positions per cell: {n_pos})"
    )
    for phase, seconds in profile.phase_s.items():
        print(f"  {phase:<32} {seconds:7.1f} s")
    print("\nmean acceptance a; tokens per round: traces / i.i.d. closed form")
    print(
        f"{'quant':<8} {'mode':<8} {'a':>6}  " + "  ".join(f"{'K=' + str(k):>22}" for k in SHOWN_K)
    )
    for cell in profile.cells:
        row = []
        for k in SHOWN_K:
            stats = cell.stats(Policy.fixed(k))
            ci = stats.tokens_per_round_ci95
            band = f"[{ci[0]:.2f},{ci[1]:.2f}]" if ci else ""
            row.append(f"{stats.tokens_per_round:.2f}{band}/{cell.iid_tokens_per_round[k - 1]:.2f}")
        mode = "greedy" if cell.mode == "greedy" else f"T={cell.temperature:g}"
        print(f"{cell.quant:<8} {mode:<8} {cell.acceptance_rate:6.3f}  "
              + "  ".join(f"{r:>22}" for r in row))  # fmt: skip
    print(f"\nprofile: {out}")


if __name__ == "__main__":
    main()
