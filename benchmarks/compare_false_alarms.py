"""How often does `configspec compare` fail honest repeats, and what drop does it catch?

1. Profiles the demo draft (qwen2.5-coder-0.5b Q4_K_M) 2 x PAIRS times with the same small
   settings (5 repetitions x 32 tokens at context 16, 64-token prefill), one after another.
2. False alarms: compares the disjoint pairs (0,1), (2,3), ... and, for more data (not
   independent), every pair i < j; a false alarm is any regression row (decode or prefill).
3. Detection: scales the CURRENT side's real samples (decode and prefill tokens/s) of each
   disjoint pair by factors 0.99 .. 0.50 (a synthetic drop on top of real noise) and reports how
   often the decode row fails, at the default tolerance and at the CI tolerance.

    python benchmarks/compare_false_alarms.py                 # 10 pairs, ~5 min on an idle 2-core box
    python benchmarks/compare_false_alarms.py --reuse DIR     # re-analyse profiles already made

Other processes on the machine change the figures (llama.cpp threads spin-wait, so an
oversubscribed CPU slows 2-thread decoding a lot): the load average is printed with them.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from pathlib import Path

from configspec.compare.drafting import compare_drafting
from configspec.compare.result import Thresholds
from configspec.profiles.drafting import DeviceProfile, DraftingSettings
from configspec.profiles.io import load_profile
from configspec.profiles.summary import Summary
from configspec.profiling.profile_command import ProfileOptions, profile_drafts

ROOT = Path(__file__).resolve().parents[1]
FACTORS = [round(1 - i / 100, 2) for i in range(0, 51)]  # 1.00 (honest) .. 0.50


def make_profiles(folder: Path, count: int, threads: int, device: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        out = folder / f"honest-{i:02d}.json"
        t0 = time.perf_counter()
        settings = DraftingSettings(threads=threads, repetitions=5, decode_tokens=32,
                                    contexts=[16], prefill_tokens=64)  # fmt: skip
        profile_drafts(ProfileOptions(models=ROOT / "models.yaml", drafts=["qwen2.5-coder-0.5b"],
                                      quants=["Q4_K_M"], settings=settings, device=device,
                                      out=out))  # fmt: skip
        print(f"profile {i + 1}/{count}: {time.perf_counter() - t0:.0f} s, "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
        paths.append(out)
    return paths


def scaled(profile: DeviceProfile, factor: float) -> DeviceProfile:
    """A copy whose decode and prefill throughput samples are multiplied by `factor`."""
    copy = profile.model_copy(deep=True)
    for cell in copy.cells:
        for point in cell.decode:
            point.tokens_per_s = Summary.of([v * factor for v in point.tokens_per_s.samples])
        cell.prefill.tokens_per_s = Summary.of(
            [v * factor for v in cell.prefill.tokens_per_s.samples]
        )
    return copy


def failed(base: DeviceProfile, cur: DeviceProfile, thresholds: Thresholds) -> bool:
    return compare_drafting(base, cur, thresholds).exit_code == 1


def decode_failed(base: DeviceProfile, cur: DeviceProfile, thresholds: Thresholds) -> bool:
    rows = compare_drafting(base, cur, thresholds).rows
    return any(r.metric.startswith("decode") and r.status == "regression" for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="compare-bench", help="Device name in the profiles.")
    parser.add_argument("--tolerance", type=float, default=Thresholds().tolerance)
    parser.add_argument("--ci-tolerance", type=float, default=0.25)
    parser.add_argument("--alpha", type=float, default=Thresholds().alpha)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench-compare")
    parser.add_argument("--reuse", type=Path, help="Analyse the honest-*.json already in DIR.")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    if args.reuse:
        paths = sorted(args.reuse.glob("honest-*.json"))
    else:
        paths = make_profiles(args.out, 2 * args.pairs, args.threads, args.device)
    profiles = [load_profile(p, DeviceProfile) for p in paths]
    pairs = [(profiles[i], profiles[i + 1]) for i in range(0, len(profiles) - 1, 2)]
    all_pairs = list(itertools.combinations(profiles, 2))
    settings = {"default": Thresholds(args.tolerance, args.alpha),
                "CI": Thresholds(args.ci_tolerance, args.alpha)}  # fmt: skip

    means = [p.cells[0].decode[0].tokens_per_s.mean for p in profiles]
    cvs = [p.cells[0].decode[0].tokens_per_s.std / p.cells[0].decode[0].tokens_per_s.mean
           for p in profiles]  # fmt: skip
    print(f"\n{len(profiles)} honest profiles ({args.threads} threads) in "
          f"{time.perf_counter() - t0:.0f} s; load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after")  # fmt: skip
    print(f"decode tok/s per profile: {', '.join(f'{m:.1f}' for m in means)}")
    print(f"  mean {statistics.mean(means):.1f}, spread of profile means (CV) "
          f"{statistics.stdev(means) / statistics.mean(means):.1%}, median within-profile CV "
          f"{statistics.median(cvs):.1%}")  # fmt: skip

    print("\nfalse alarms (gate fails on honest repeats):")
    for name, t in settings.items():
        disjoint = sum(failed(a, b, t) for a, b in pairs)
        every = sum(failed(a, b, t) for a, b in all_pairs)
        print(f"  {name:>7} tolerance {t.tolerance:.0%}, alpha {t.alpha:g}: {disjoint}/{len(pairs)} "
              f"disjoint pairs ({disjoint / len(pairs):.0%}), {every}/{len(all_pairs)} of all "
              f"pairs ({every / len(all_pairs):.1%})")  # fmt: skip

    print("\ndetection of a drop (CURRENT's real samples scaled by factor), decode row:")
    print(
        f"  {'drop':>5}  "
        + "  ".join(f"{name} ({t.tolerance:.0%})" for name, t in settings.items())
    )
    smallest: dict[str, dict[str, float | None]] = {n: {"all": None, "90%": None} for n in settings}
    for factor in FACTORS:
        rates = {}
        for name, t in settings.items():
            rate = sum(decode_failed(a, scaled(b, factor), t) for a, b in pairs) / len(pairs)
            rates[name] = rate
            for level, need in (("all", 1.0), ("90%", 0.9)):
                if factor < 1 and rate >= need and smallest[name][level] is None:
                    smallest[name][level] = 1 - factor
        print(
            f"  {1 - factor:>5.0%}  " + "  ".join(f"{rates[n]:>{len(n) + 6}.0%}" for n in settings)
        )
    for name, levels in smallest.items():
        shown = {k: (f"{v:.0%}" if v is not None else "> 50%") for k, v in levels.items()}
        print(f"smallest decode drop detected at {name} tolerance: in 90% of pairs "
              f"{shown['90%']}, in all pairs {shown['all']}")  # fmt: skip


if __name__ == "__main__":
    main()
