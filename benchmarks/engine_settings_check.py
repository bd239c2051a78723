"""Does llama.cpp, run with the settings configspec emits, do what configspec predicts? The honest
test of a recommendation: the engine itself, run as the user would run it.

llama.cpp's own `llama-speculative-simple` (built from the llama.cpp that llama-cpp-python
vendors, with configspec's compiler flags: benchmarks/llama_tools.py, once) runs the llama.cpp
settings of the goodput pick, and of other policies (--policies), on the first --prompts prompts
the alignment profile walked, greedy, --tokens tokens each. A pick that does not speculate runs
the target alone in `llama-bench` instead. Against it, the prediction for the same machine:

- tokens drafted and kept per round: those prompts' traces walked with llama.cpp's own confidence
  (the top token over the draft's top 10 logits, alignment/traces.py) and its stopping rule,
  past the draft's own wrong tokens by the alignment's rollouts (alignment/rollouts.py);
- tok/s: the analytic model for one host (draft and target side by side, no network), the draft
  paying its steps and its re-read of each verified batch as llama.cpp's draft-simple does
  (search/engines.py), at the mean context of the run.

Target: measured within 10% of predicted, tokens per round and tok/s. Needs profiles made on this
machine at the same --threads (`configspec run`, or profile + align + verify-latency; the
alignment's traces .npz beside it). Timing figures are only as quiet as the machine: run it on a
quiet one, right after profiling. Every case runs --passes times, interleaved in a new order each
pass, and each figure's median is compared (a 2-vCPU VM's speed moved by up to 20% between runs
minutes apart: docs/recommend.md). The machine's speed is also probed right before every run,
the way the profiles measure it (llama-cpp-python, --threads, at the run's mean context: a draft
decode step, the draft's re-read of K max + 1 tokens, and a target call over 1 and over K max + 1
tokens; the one-token calls are memory-bound and the long ones compute-bound, and the two drift
apart), and a second prediction scales the profiles' times by that run's probes over the
profiles' own figures there ("probed"; PASS/FAIL is given for both). The run uses the emitted
flags, which set flash attention off as the profiles ran it (recommend/settings.py). Not in the
model, so expect these to show: llama.cpp's samplers over the whole vocabulary for every
verified row and every draft token (no `overhead_ms_per_round` is assumed); and the run's
continuation drifting from the traced one where batched verification picks another top token.
An alignment made before the rollouts walks a threshold's draft past its wrong token on the
target's text instead, and predicts too few drafted tokens (docs/alignment.md, "Caveat").

    python benchmarks/engine_settings_check.py [--results results] [--prompts 6] [--tokens N]
        [--policies "K=3,K<=16 tau=0.5"] [--threads 2] [--passes 3] [--scenario scenario.yaml]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llama_tools import tool  # noqa: E402

from configspec.alignment.prompts import DEFAULT_PROMPTS, load_prompts  # noqa: E402
from configspec.alignment.summarize import summarize_cell, summarize_prompt  # noqa: E402
from configspec.alignment.sweep import chat_tokens  # noqa: E402
from configspec.alignment.traces import unpack_traces  # noqa: E402
from configspec.analytic.evaluate import evaluate  # noqa: E402
from configspec.analytic.inputs import draft_batch_s, draft_timing, verify_curve  # noqa: E402
from configspec.analytic.scenario import load_scenario  # noqa: E402
from configspec.errors import ConfigspecError  # noqa: E402
from configspec.profiles.alignment import AlignmentCell, AlignmentProfile  # noqa: E402
from configspec.profiles.drafting import DeviceProfile  # noqa: E402
from configspec.profiles.policy import Policy  # noqa: E402
from configspec.recommend.command import RecommendOptions, limits_from, search_engine  # noqa: E402
from configspec.recommend.discover import find_inputs  # noqa: E402
from configspec.recommend.settings import llama_cpp_flags  # noqa: E402
from configspec.runners import open_runner  # noqa: E402
from configspec.search.engines import LLAMA_CPP  # noqa: E402
from configspec.search.space import build_space  # noqa: E402
from device_profilers.host import cpu_model  # noqa: E402

TARGET_ERROR = 0.10
N_CTX = 4096


@dataclass(frozen=True)
class Case:
    why: str  # "goodput pick", "policy K=3", ...
    draft: str | None  # None: the target alone
    quant: str
    policy: Policy


@dataclass
class Figures:
    drafted_per_round: float | None
    tokens_per_round: float | None
    tok_s: float


@dataclass(frozen=True)
class Speed:
    """The machine's speed now over the profiles' at the same calls: a draft step, the draft's
    re-read of `tokens` tokens, and a target call over 1 and over `tokens` tokens. A call over n
    tokens between 1 and `tokens` scales by the ratio interpolated linearly in n."""

    draft_step_x: float = 1.0
    draft_batch_x: float = 1.0
    target_one_x: float = 1.0
    target_batch_x: float = 1.0
    tokens: int = 2

    def draft_batch(self, n: np.ndarray) -> np.ndarray:
        return np.interp(n, [1, self.tokens], [self.draft_step_x, self.draft_batch_x])

    def target(self, n: np.ndarray) -> np.ndarray:
        return np.interp(n, [1, self.tokens], [self.target_one_x, self.target_batch_x])

    def __str__(self) -> str:
        return (f"draft step x{self.draft_step_x:.2f}, draft re-read of {self.tokens} "
                f"x{self.draft_batch_x:.2f}, target call over 1 x{self.target_one_x:.2f}, over "
                f"{self.tokens} x{self.target_batch_x:.2f}")  # fmt: skip


def parse_policy(text: str, k_max: int) -> Policy:
    """`K=4` or `K<=16 tau=0.5` (Policy.label's spelling)."""
    if m := re.fullmatch(r"K=(\d+)", text.strip()):
        return Policy.fixed(int(m[1]))
    if m := re.fullmatch(r"K<=(\d+) tau=([0-9.]+)", text.strip()):
        if int(m[1]) != k_max:
            raise ConfigspecError(f"{text}: the alignment walked thresholds at K max {k_max} only")
        return Policy.threshold(k_max, float(m[2]))
    raise ConfigspecError(f"--policies takes labels like K=4 or K<={k_max} tau=0.5, not {text!r}")


def subset_profile(alignment: AlignmentProfile, path: Path, cells: list[AlignmentCell],
                   prompt_ids: list[str], taus: list[float]) -> AlignmentProfile:  # fmt: skip
    """The alignment profile's `cells` re-walked on the prompts that run (and any extra tau)."""
    s = alignment.settings
    if taus and min(taus) < min(s.tau_grid):  # the rollouts stopped at the grid's smallest
        raise ConfigspecError(f"tau {min(taus):g} is below the alignment's smallest "
                              f"({min(s.tau_grid):g}), where its rollouts stopped")  # fmt: skip
    grid = tuple(sorted({*s.tau_grid, *taus}))
    subset = []
    for cell in cells:
        arrays = np.load(path.parent / cell.traces_file)
        traces = [t for t in unpack_traces(arrays, cell.traces_key, cell.prompt_ids)
                  if t.prompt_id in prompt_ids]  # fmt: skip
        if any(t.llama_cpp_confidence is None for t in traces):
            raise ConfigspecError(f"{path} has no llama.cpp confidence in its traces; re-run align")
        summaries = [summarize_prompt(t, s.k_max, grid, 1, s.seed) for t in traces]
        figures = summarize_cell(traces, summaries, s.k_max, grid)
        subset.append(cell.model_copy(update={**figures.__dict__, "prompt_ids": prompt_ids,
                                              "n_prompts": len(traces)}))  # fmt: skip
    return alignment.model_copy(update={"cells": subset})


def predict(case: Case, drafting: DeviceProfile, alignment: AlignmentProfile, verification,
            scenario, speed: Speed = Speed()) -> Figures:  # fmt: skip
    """The model's figures for `case` on one host (no network); `speed` scales the draft's
    times and the target's t_v (a probe's ratios to the profiles)."""
    aligned = {(c.draft, c.quant) for c in alignment.cells}
    keep = [c for c in drafting.cells if (c.draft, c.quant) in aligned
            and (case.draft is None or (c.draft, c.quant) == (case.draft, case.quant))]  # fmt: skip
    space = build_space(drafting.model_copy(update={"cells": keep}), alignment, verification,
                        scenario, LLAMA_CPP)  # fmt: skip
    rows = [i for i in range(len(space)) if space.policy[i] == case.policy
            and (space.draft[i] == case.draft or not case.draft)]  # fmt: skip
    i = rows[0]
    inputs = space.inputs.take([i])
    calls = inputs.drafted + 1.0  # tokens in the target's call and in the draft's re-read
    inputs = dataclasses.replace(
        inputs, network=np.zeros(1), step_s=inputs.step_s * speed.draft_step_x,
        ingest_s=inputs.ingest_s * speed.draft_batch(calls),
        verify_s=inputs.verify_s * speed.target(calls),
    )  # fmt: skip
    m = evaluate(inputs, space.terms)
    if not case.policy.speculates:
        return Figures(None, None, float(m.goodput_tok_s[0]))
    return Figures(float(inputs.drafted[0]), float(inputs.tokens[0]), float(m.goodput_tok_s[0]))


def run_speculative(target: Path, draft: Path, policy: Policy, prompts: list[Path],
                    tokens: int, threads: int) -> Figures:  # fmt: skip
    """llama-speculative-simple with the emitted flags, one run per prompt; summed counters."""
    predicted = drafted = accepted = 0
    seconds = 0.0
    for prompt in prompts:
        command = [str(tool("llama-speculative-simple")), "-m", str(target),
                   *llama_cpp_flags(str(draft), policy, "new"), "--temp", "0", "-t", str(threads),
                   "-c", str(N_CTX), "-n", str(tokens), "-f", str(prompt), "--seed", "0"]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True)
        log = done.stdout + done.stderr
        if done.returncode != 0:
            raise SystemExit(f"llama-speculative-simple failed ({done.returncode}):\n{log[-2000:]}")
        counters = {
            k: int(v) for k, v in re.findall(r"(n_predict|n_drafted|n_accept)\s+=\s+(\d+)", log)
        }
        decoded = re.search(r"decoded\s+(\d+) tokens in\s+([0-9.]+) seconds", log)
        predicted += counters["n_predict"]
        drafted += counters["n_drafted"]
        accepted += counters["n_accept"]
        seconds += float(decoded[2])
    rounds = predicted - accepted  # each round emits its accepted tokens + one of the target's
    return Figures(drafted / rounds, predicted / rounds, predicted / seconds)


def run_target_alone(target: Path, tokens: int, threads: int, context: int) -> Figures:
    """llama-bench decoding `tokens` tokens after `context` (the target alone)."""
    done = subprocess.run([str(tool("llama-bench")), "-m", str(target), "-t", str(threads),
                           "-p", "0", "-n", str(tokens), "-d", str(context), "-r", "3",
                           "-fa", "0", "-o", "json"], capture_output=True, text=True, check=True)  # fmt: skip
    (result,) = json.loads(done.stdout)
    rates = [tokens / (ns / 1e9) for ns in result["samples_ns"]]
    return Figures(None, None, float(np.mean(rates)))


class SpeedProbe:
    """The machine's speed now, timed as the profiles time it, over the profiles' own figures at
    the same context: the draft's decode step and its re-read of `tokens` tokens (drafting
    profile), the target's call over 1 and over `tokens` tokens (verification profile). Calls over
    many tokens are compute-bound and one-token calls memory-bound, and on a shared VM the two
    drift apart (docs/recommend.md), so both are probed."""

    def __init__(self, draft: Path, target: Path, threads: int, context: int, tokens: int,
                 profiled_s: tuple[float, float, float, float]):  # fmt: skip
        self.runners = [open_runner("llama_cpp", path, threads=threads, n_ctx=context + tokens + 8)
                        for path in (draft, target)]  # fmt: skip
        self.context = context
        self.tokens = tokens
        self.profiled_s = profiled_s  # draft step, draft re-read, target over 1 and over tokens
        text = [int(t) for t in np.random.default_rng(0).integers(100, 5000, context + tokens)]
        for runner in self.runners:
            runner.forward(text[:context])
        self.next = text[context:]

    def _median_s(self, runner, n: int, all_logits: bool, calls: int) -> float:
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            if all_logits:
                runner.forward_batch([self.next[:n]], all_logits=True)
            else:
                runner.forward(self.next[:n])
            times.append(time.perf_counter() - t0)
            runner.rollback(self.context)
        return float(np.median(times))

    def __call__(self, calls: int = 6) -> Speed:
        draft, target = self.runners
        now_s = (self._median_s(draft, 1, False, calls),
                 self._median_s(draft, self.tokens, False, calls),
                 self._median_s(target, 1, True, calls),
                 self._median_s(target, self.tokens, True, calls))  # fmt: skip
        return Speed(*(n / p for n, p in zip(now_s, self.profiled_s, strict=True)),
                     tokens=self.tokens)  # fmt: skip

    def close(self) -> None:
        for runner in self.runners:
            runner.close()


def median_speed(speeds: list[Speed]) -> Speed:
    """Each ratio's median over the probes."""
    fields = ("draft_step_x", "draft_batch_x", "target_one_x", "target_batch_x")
    return Speed(**{f: float(np.median([getattr(s, f) for s in speeds])) for f in fields},
                 tokens=speeds[0].tokens)  # fmt: skip


def median_figures(runs: list[Figures]) -> Figures:
    """Each figure's median over the passes (None stays None)."""

    def med(values):
        return None if values[0] is None else float(np.median(values))

    return Figures(med([r.drafted_per_round for r in runs]), med([r.tokens_per_round for r in runs]),
                   float(np.median([r.tok_s for r in runs])))  # fmt: skip


def error(measured: float | None, predicted: float | None) -> str:
    if measured is None or predicted is None:
        return "-"
    return f"{predicted / measured - 1:+.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--scenario", type=Path, default=None)
    parser.add_argument("--prompts", type=int, default=6, help="prompts to run (the first N)")
    parser.add_argument("--tokens", type=int, default=None,
                        help="tokens per prompt (default: the alignment's new tokens)")  # fmt: skip
    parser.add_argument("--policies", default=None,
                        help="extra policies, comma-separated (default: K=3 and K<=K_MAX tau=0.5)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--passes", type=int, default=3,
                        help="runs of every case, interleaved; the median is compared")  # fmt: skip
    args = parser.parse_args()
    try:
        check(args)
    except ConfigspecError as exc:
        raise SystemExit(f"engine_settings_check: {exc}") from exc


def check(args) -> None:
    scenario = load_scenario(args.scenario)
    inputs = find_inputs(args.results)
    (a_path, alignment), (_, verification) = inputs.alignment, inputs.verification
    drafting = inputs.drafting[0][1]
    options = RecommendOptions(results=args.results)
    w = scenario.weights
    found = search_engine(LLAMA_CPP, inputs, scenario, limits_from(scenario, options),
                          np.array([w.goodput, w.cost, w.energy]))  # fmt: skip
    result = found.results[drafting.environment.device]
    space = result.space
    cases = []
    for why, position in (("goodput pick", result.picks["goodput"]),
                          ("best speculative for goodput",
                           result.speculative_picks.get("goodput"))):  # fmt: skip
        if position is None:
            continue
        i = result.index(position)
        case = Case(why, str(space.draft[i]) if space.speculates(i) else None,
                    str(space.quant[i]), space.policy[i])  # fmt: skip
        if case not in cases and all(c.policy != case.policy or c.draft != case.draft
                                     for c in cases):  # fmt: skip
            cases.append(case)
    spec = next((c for c in cases if c.draft), None)
    if spec is None:
        raise ConfigspecError("no speculative llama.cpp configuration to check")
    k_max = alignment.settings.k_max
    extra = args.policies.split(",") if args.policies else ["K=3", f"K<={k_max} tau=0.5"]
    for text in extra:
        policy = parse_policy(text, k_max)
        if all(c.policy != policy or c.draft != spec.draft for c in cases):
            cases.append(Case(f"policy {policy.label}", spec.draft, spec.quant, policy))
    cells = [c for c in alignment.cells if c.mode == "greedy"
             and any((c.draft, c.quant) == (k.draft, k.quant) for k in cases)]  # fmt: skip
    prompt_ids = cells[0].prompt_ids[: args.prompts]
    tokens = args.tokens or alignment.settings.new_tokens
    if tokens > alignment.settings.new_tokens:
        print(f"note: the traces hold {alignment.settings.new_tokens} tokens per prompt; the "
              f"prediction walks those, the run decodes {tokens}")  # fmt: skip
    taus = [c.policy.tau for c in cases if c.policy.tau is not None]
    subset = subset_profile(alignment, a_path, cells, prompt_ids, taus)
    target_file = Path(verification.target_file)
    draft_files = {(c.draft, c.quant): Path(c.file) for c in drafting.cells}
    by_id = {p.id: p for p in load_prompts(
        None if alignment.settings.prompts_file == DEFAULT_PROMPTS
        else Path(alignment.settings.prompts_file))}  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="engine-check-"))
    files, lengths = [], []
    with open_runner("llama_cpp", target_file, threads=args.threads, n_ctx=N_CTX) as target:
        for pid in prompt_ids:  # the prompt text as the alignment saw it (the target's template)
            text = target.chat_prompt([m.model_dump() for m in by_id[pid].messages])
            lengths.append(len(chat_tokens(target, by_id[pid])))
            # llama.cpp's -f drops one trailing newline (common/arg.cpp), and the chat template
            # ends with one ("<|im_start|>assistant\n"): add one more to keep it
            (folder / f"{pid}.txt").write_text(text + "\n" if text.endswith("\n") else text)
            files.append(folder / f"{pid}.txt")
    context = int(np.mean(lengths) + tokens / 2)  # where the run decodes, on average
    scenario = scenario.model_copy(update={"context_tokens": context})
    print(f"{cpu_model()}, {args.threads} threads; {len(files)} prompts x up to {tokens} tokens, "
          f"greedy; mean context {context}; {tool('llama-speculative-simple')}")  # fmt: skip
    runs: dict[Case, list[Figures]] = {case: [] for case in cases}
    order = random.Random(0)
    cell = next(c for c in drafting.cells if (c.draft, c.quant) == (spec.draft, spec.quant))
    curve = verify_curve(verification, 1)
    largest = k_max + 1  # the longest call: K max drafts and the last token
    profiled_s = (draft_timing(cell, context).step_s,
                  float(draft_batch_s(cell, [largest], context)[0]),
                  float(curve.latency(0, context)), float(curve.latency(largest - 1, context)))  # fmt: skip
    probe = SpeedProbe(draft_files[spec.draft, spec.quant], target_file, args.threads, context,
                       largest, profiled_s)  # fmt: skip
    probes: dict[Case, list[Speed]] = {case: [] for case in cases}
    for n in range(args.passes):  # interleaved, in a new order each pass: the VM's speed drifts
        for case in order.sample(cases, len(cases)):
            probes[case].append(probe())  # right before the run it speaks for
            if case.draft is None:
                got = run_target_alone(target_file, tokens, args.threads, context)
            else:
                got = run_speculative(target_file, draft_files[case.draft, case.quant],
                                      case.policy, files, tokens, args.threads)  # fmt: skip
            runs[case].append(got)
            print(f"pass {n + 1}/{args.passes}: {case.why}: {got.tok_s:.2f} tok/s; probe: "
                  f"{probes[case][-1]}", flush=True)  # fmt: skip
    probe.close()
    rows, ok, ok_probed = [], True, True
    for case in cases:
        want = predict(case, drafting, subset, verification, scenario)
        probed = predict(case, drafting, subset, verification, scenario, median_speed(probes[case]))
        got = median_figures(runs[case])
        what = ("target alone (llama-bench)" if case.draft is None
                else f"{case.draft} {case.quant} {case.policy.label}")  # fmt: skip
        for m, p in ((got.tokens_per_round, want.tokens_per_round), (got.tok_s, want.tok_s)):
            ok &= m is None or abs(p / m - 1) <= TARGET_ERROR
        ok_probed &= abs(probed.tok_s / got.tok_s - 1) <= TARGET_ERROR and (
            got.tokens_per_round is None
            or abs(want.tokens_per_round / got.tokens_per_round - 1) <= TARGET_ERROR
        )
        rates = [r.tok_s for r in runs[case]]
        rows.append((case.why, what, got, want, probed, f"{min(rates):.2f}-{max(rates):.2f}"))
    head = (f"{'case':<30} {'configuration':<38} {'drafted/round':>15} {'tokens/round':>15} "
            f"{'err':>7} {'tok/s':>15} {'err':>7} {'probed':>7} {'err':>7}   passes' tok/s")  # fmt: skip
    print(f"\nmeasured (median of {args.passes} passes) / predicted (err = predicted vs "
          f"measured)\n" + head)  # fmt: skip
    for why, what, got, want, probed, spread in rows:

        def pair(m, p):
            return "-" if m is None else f"{m:.2f} / {p:.2f}"

        print(f"{why:<30} {what:<38} {pair(got.drafted_per_round, want.drafted_per_round):>15} "
              f"{pair(got.tokens_per_round, want.tokens_per_round):>15} "
              f"{error(got.tokens_per_round, want.tokens_per_round):>7} "
              f"{pair(got.tok_s, want.tok_s):>15} {error(got.tok_s, want.tok_s):>7} "
              f"{probed.tok_s:>7.2f} {error(got.tok_s, probed.tok_s):>7}   {spread}")  # fmt: skip
    for case in cases:
        print(
            f"speed probes before {case.why} (median of {len(probes[case])}): "
            f"{median_speed(probes[case])} of the profiles' figures at context {context}"
        )
    print(f"target: within {TARGET_ERROR:.0%}: as profiled {'PASS' if ok else 'FAIL'}; at the "
          f"probed speed {'PASS' if ok_probed else 'FAIL'}")  # fmt: skip


if __name__ == "__main__":
    main()
