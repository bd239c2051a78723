"""Does configspec measure the engine users deploy? Its decode and prefill rates against llama.cpp's
own llama-bench, on the same model file, thread count and ggml build. Targets: decode within 5%,
prefill within 10%, for every demo quantization.

llama-bench comes from the llama.cpp that the installed llama-cpp-python vendors, built with the
same flags as configspec's wheel (benchmarks/llama_tools.py; built once, ~5-15 minutes). For
each quantization, in a new random order on each pass so that the machine's drift hits both
sides alike:
  - `llama-bench -m FILE -t T -r R -p 0 -n 64 -d CTX` (decode 64 tokens after CTX tokens) and
    `-p 256 -n 0` (prefill 256 tokens), JSON output;
  - `configspec profile --quants Q --contexts CTX --tokens 64 --prefill-tokens 256
    --repetitions R --threads T`, run as a user runs it.
Both keep every repetition; the table shows their means and the relative difference.

    python benchmarks/engine_vs_llama_bench.py [--threads 2] [--passes 2] [--repetitions 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llama_tools import tool  # noqa: E402

from configspec.profiles.drafting import DeviceProfile  # noqa: E402
from configspec.profiles.io import load_profile  # noqa: E402
from configspec.registry import load_registry  # noqa: E402
from configspec.sources.resolve import model_file  # noqa: E402
from device_profilers.host import cpu_model  # noqa: E402

DRAFT = "qwen2.5-coder-0.5b"
DECODE_TARGET, PREFILL_TARGET = 0.05, 0.10


def llama_bench(
    path: Path, threads: int, reps: int, context: int
) -> tuple[list[float], list[float]]:
    """(decode tok/s per repetition, prefill tok/s per repetition) from llama-bench's samples."""

    def run(*test: str) -> list[float]:
        out = subprocess.run([str(tool("llama-bench")), "-m", str(path), "-t", str(threads),
                              "-r", str(reps), "-o", "json", *test],
                             capture_output=True, text=True, check=True)  # fmt: skip
        (result,) = json.loads(out.stdout)
        tokens = result["n_gen"] or result["n_prompt"]
        return [tokens / (ns / 1e9) for ns in result["samples_ns"]]

    return run("-p", "0", "-n", "64", "-d", str(context)), run("-p", "256", "-n", "0")


def configspec_profile(quant: str, threads: int, reps: int, context: int) -> DeviceProfile:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "drafting.json"
        subprocess.run(["configspec", "profile", "--drafts", DRAFT, "--quants", quant,
                        "--contexts", str(context), "--tokens", "64", "--prefill-tokens", "256",
                        "--repetitions", str(reps), "--threads", str(threads),
                        "--device", "bench", "--out", str(out)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        return load_profile(out, DeviceProfile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument(
        "--context", type=int, default=16, help="tokens in the cache before decoding"
    )
    parser.add_argument("--quants", default="Q4_K_M,Q8_0,Q2_K,F16")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    quants = args.quants.split(",")
    model = load_registry(Path("models.yaml")).get(DRAFT)
    files = {q: model_file(model, q) for q in quants}
    print(f"{cpu_model()}, {args.threads} threads; llama-bench: {tool('llama-bench')}")
    ours: dict = {q: ([], [], []) for q in quants}  # decode, prefill, busy flags
    theirs: dict = {q: ([], []) for q in quants}
    rng = np.random.default_rng(args.seed)
    for p in range(args.passes):
        for i in rng.permutation(len(quants)):
            q = quants[i]
            sides = [("llama-bench", lambda q=q: theirs[q]), ("configspec", lambda q=q: ours[q])]
            for side in sides if rng.random() < 0.5 else sides[::-1]:  # who goes first varies
                if side[0] == "llama-bench":
                    decode, prefill = llama_bench(files[q], args.threads, args.repetitions,
                                                  args.context)  # fmt: skip
                    theirs[q][0].extend(decode)
                    theirs[q][1].extend(prefill)
                else:
                    profile = configspec_profile(q, args.threads, args.repetitions, args.context)
                    cell = profile.cells[0]
                    ours[q][0].extend(cell.decode[0].tokens_per_s.samples)
                    ours[q][1].extend(cell.prefill.tokens_per_s.samples)
                    ours[q][2].extend(m.busy for m in (cell.decode[0].machine_load,
                                                       cell.prefill.machine_load) if m)  # fmt: skip
            print(f"pass {p + 1}/{args.passes}: {q} done", flush=True)
    print(f"\n{'quant':<7} {'llama-bench tg64':>17} {'configspec':>11} {'diff':>7} {'':>4}   "
          f"{'llama-bench pp256':>17} {'configspec':>11} {'diff':>7}")  # fmt: skip
    ok = True
    for q in quants:
        row = []
        for k, target in ((0, DECODE_TARGET), (1, PREFILL_TARGET)):
            a, b = statistics.mean(theirs[q][k]), statistics.mean(ours[q][k])
            diff = b / a - 1
            ok &= abs(diff) <= target
            verdict = "ok" if abs(diff) <= target else "FAIL"
            row.append(f"{a:>11.1f} ± {statistics.stdev(theirs[q][k]):>4.1f} {b:>11.1f} "
                       f"{diff:>+7.1%} {verdict:>4}")  # fmt: skip
        busy = " (configspec flagged a busy machine)" if any(ours[q][2]) else ""
        print(f"{q:<7} {row[0]}   {row[1]}{busy}")
    print(f"targets: decode within {DECODE_TARGET:.0%}, prefill within {PREFILL_TARGET:.0%}: "
          f"{'PASS' if ok else 'FAIL'}")  # fmt: skip


if __name__ == "__main__":
    main()
