"""Proactive drafting on the real edge against the model. Target: within 10% for every cell.

The real loop of e2e_vs_model.py (benchmarks/real_loop.py: a real `configspec serve` pinned to
CPU 0, the real edge's RemoteVerifier, relay and decoder in this process pinned to CPU 1, one
thread each) runs greedy speculative decoding for fixed K = 1, 2, 4 at emulated round-trip
delays of 0, 20 and 50 ms, with and without proactive drafting (`configspec edge --overlap
proactive`: the draft goes on drafting while its round is in flight and reuses what it drafted
when the server accepts everything and its bonus token is the draft's guess). Each cell is
predicted by configspec.analytic.evaluate from the walk of the teacher-forced traces (tokens per
round, full acceptance, and P(reuse): every draft accepted AND the draft's next-token guess
equal to the bonus) and timing inputs measured next to the cell's runs (docs/model.md,
"Proactive drafting"). The wasted pre-drafts' energy is the drafting profile's power (labelled
measured or estimated as the profile's is) x their drafting time, measured and predicted.

The edge and the server are on separate cores here, so the draft's pre-drafting runs truly in
parallel with the target's verification; on one machine it still shares the memory system with
it, which a real edge on its own device would not. That slowdown is measured next to each
proactive cell (t_v(K) while the draft decodes on its core) and applied to the share of the
flight the draft pre-drafts in, min(1, K t_d / F), as one more term of this loopback emulation
(printed with the results). About 60 minutes at the defaults on a quiet 2-core machine (18
cells x 8 prompts x 48 tokens, 1 pass; over fewer prompts the texts the server's multi-token
verification commits accept differently from the continuation, docs/serving.md):

    python benchmarks/overlap_vs_model.py [--prompts 8] [--new-tokens 48] [--passes 1]
        [--ks 1,2,4] [--delays-ms 0,20,50] [--drafting-profile results/baselines/demo-drafting.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_loop as rl  # noqa: E402

from configspec.serving.edge import round_sample  # noqa: E402
from configspec.serving.overlap import draft_energy, find_draft_power  # noqa: E402

OVERLAPS = ("none", "proactive")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--passes", type=int, default=1)
    parser.add_argument("--ks", default="1,2,4")
    parser.add_argument("--delays-ms", default="0,20,50")
    parser.add_argument("--drafting-profile", type=Path,
                        default=Path("results/baselines/demo-drafting.json"),
                        help="power of the draft for the wasted-draft energy")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    delays = [float(d) / 1000 for d in args.delays_ms.split(",")]
    power = find_draft_power(args.drafting_profile, Path("results"), "", rl.DRAFT, rl.QUANT)
    loop = rl.open_loop(args.prompts, args.new_tokens)
    cells = [((k, None), d, o) for d in delays for k in ks for o in OVERLAPS]
    runs: dict = {c: [] for c in cells}
    timing: dict = {c: [] for c in cells}
    try:
        extra = rl.round_terms(loop.run((2, None), 0.0, args.new_tokens))
        print("calibration (K=2, no added delay, no overlap), per round: " + ", ".join(
            f"{k} {1e3 * v:.2f} ms" for k, v in extra.items()), flush=True)  # fmt: skip
        rng = np.random.default_rng(args.seed)
        for n in range(args.passes):
            for done, i in enumerate(rng.permutation(len(cells)), 1):
                policy, delay, overlap = cells[i]
                results, measured = loop.measure(policy, delay, args.new_tokens, overlap)
                runs[cells[i]] += results
                timing[cells[i]] += measured
                tok_s = sum(len(r.tokens) for r in results) / sum(r.decode_s for r in results)
                print(f"  pass {n + 1}, cell {done}/{len(cells)}: {rl.label(policy)} "
                      f"{1e3 * delay:.0f} ms {overlap}: {tok_s:.2f} tok/s", flush=True)  # fmt: skip
            print(f"pass {n + 1}/{args.passes} done", flush=True)
    finally:
        loop.close()

    context = int(np.mean([len(p) for p in loop.prompts])) + args.new_tokens // 2
    power_w, source = power.at(context)
    steps = [t.step_s for c in cells for t in timing[c]]
    slowdown = [t.verify_concurrent_s[max(ks)] / t.verify_s[max(ks)] - 1
                for c in cells for t in timing[c]
                if t.verify_concurrent_s and max(ks) in t.verify_concurrent_s]  # fmt: skip
    print(f"draft step over all measurements: {1e3 * min(steps):.1f}-{1e3 * max(steps):.1f} ms; "
          f"draft power {power_w:.1f} W ({source}, from {args.drafting_profile}); t_v(K={max(ks)}) "
          f"while the draft decodes on the other core: {np.mean(slowdown):+.1%} (mean of "
          f"{len(slowdown)})\n")  # fmt: skip
    print(f"{'policy':<6} {'delay':>5} {'overlap':<9} {'measured':>8} {'predicted':>9} "
          f"{'error':>7} {'own text':>8} {'error':>7}  {'reuse meas/walk/own':>19}  "
          f"{'tok/round m/w/own':>17}  per round ms, "
          f"measured (predicted): draft / pre-draft / wire / verify / late / other   "
          f"wasted J/token meas (pred)")  # fmt: skip
    goodput: dict = {}
    errors, own_errors = [], []
    for policy, delay, overlap in cells:
        results = runs[(policy, delay, overlap)]
        rounds = [r for res in results for r in res.rounds]
        tokens = sum(len(r.tokens) for r in results)
        measured = tokens / sum(r.decode_s for r in results)
        counts = rl.walk(loop.tr, policy)
        p = rl.predict(counts, policy, timing[(policy, delay, overlap)], extra, delay, overlap,
                    power_w)  # fmt: skip
        m = p.metrics
        predicted = float(m.goodput_tok_s[0])
        goodput[(policy, delay, overlap)] = (measured, predicted)
        err = predicted / measured - 1
        errors.append(abs(err))
        own = rl.own_text_walk(loop, results, policy)
        own_predicted = float(rl.predict(own, policy, timing[(policy, delay, overlap)], extra, delay,
                                         overlap, power_w).metrics.goodput_tok_s[0])  # fmt: skip
        own_err = own_predicted / measured - 1
        own_errors.append(abs(own_err))
        pre = [r for r in rounds if r.predrafted]
        reuse = f"{sum(r.reuse_hit for r in pre) / len(pre):.2f}" if pre else "-"
        walk_reuse = (f"{counts.reuse_rate:.2f}/{own.reuse_rate:.2f}" if overlap == "proactive"
                      else "-")  # fmt: skip
        wasted = draft_energy([round_sample(r) for r in rounds], tokens, power, context)

        columns = rl.ms_columns(rounds, [
            ("draft_s", float(m.draft_s[0])), ("predraft_s", float(m.predraft_s[0])),
            ("net_s", float(m.net_s[0])), ("verify_s", p.verify_s), ("late_s", float(m.late_s[0])),
            ("other_s", rl.overhead_s(extra)),
        ])  # fmt: skip
        print(f"{rl.label(policy):<6} {1e3 * delay:>5.0f} {overlap:<9} {measured:>8.2f} "
              f"{predicted:>9.2f} {err:>+7.1%} {own_predicted:>8.2f} {own_err:>+7.1%}  "
              f"{reuse:>5}/{walk_reuse:<13}  {tokens / len(rounds):>5.2f}/"
              f"{counts.tokens_per_round:.2f}/{own.tokens_per_round:<6.2f}  {columns}   "
              f"{wasted.wasted_draft_j_per_token:.3f} "
              f"({float(m.wasted_draft_j_per_token[0]):.3f})")  # fmt: skip
    rl.print_verdicts(loop, [r for c in cells for r in runs[c]], errors, own_errors)
    print(f"wasted-draft energy labelled {source.split(':')[0]} ({source})\n")
    print("gain of proactive over none (goodput ratio - 1), measured (predicted):")
    print(f"{'policy':<6} " + " ".join(f"{f'{1e3 * d:.0f} ms':>17}" for d in delays))
    for k in ks:
        cols = []
        for d in delays:
            (m0, p0), (m1, p1) = (goodput[((k, None), d, o)] for o in OVERLAPS)
            cols.append(f"{m1 / m0 - 1:+7.1%} ({p1 / p0 - 1:+6.1%})")
        print(f"{rl.label((k, None)):<6} " + " ".join(f"{c:>17}" for c in cols))
    last = delays[-1]
    quoted = ", ".join(
        f"{rl.label((k, None))} {goodput[((k, None), last, 'proactive')][0] / goodput[((k, None), last, 'none')][0] - 1:+.1%}"
        for k in ks
    )  # fmt: skip
    print(f"measured gain of proactive drafting at {1e3 * last:.0f} ms: {quoted}")


if __name__ == "__main__":
    main()
