"""Does a running power meter slow decoding? Decode tokens/s with a polling meter on vs off.

This machine has no power sensor, so the polling machinery (device_profilers.polling.PollingMeter,
which the Jetson, Pi 5 and NVML-without-counter meters share) is driven by a fake sensor:
  - `file`: reads a number from a file each period, as the INA3221 sysfs meter does (period 0.1 s,
    its default; NVML polling also defaults to 0.1 s);
  - `command`: spawns a process (`cat <file>`) each period, as the Pi 5 meter does with
    `vcgencmd pmic_read_adc` (period 0.5 s, its default).
The demo draft decodes greedily with the same timed loop as `configspec profile`; runs alternate
off/on (ABBA order) so drift in machine load hits both arms alike. Overhead = 1 - median over pairs of
(on tok/s / off tok/s). Target: < 3%. The sampler's own CPU cost is measured separately, with no
decoding, as process CPU time per second of wall time.

    python benchmarks/meter_overhead.py [--pairs 8] [--tokens 64] [--threads 2] [--modes file,command]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from configspec.profiling.drafting import profile_tokens, timed_decode
from configspec.registry import load_registry
from configspec.runners.llama_cpp import LlamaCppRunner
from configspec.sources.resolve import model_file
from device_profilers.commands import run_command
from device_profilers.polling import PollingMeter, PowerSample


class FileSensorMeter(PollingMeter):
    """Watts from a file, like a sysfs power or current/voltage file."""

    name = "fake-file-sensor"
    source = "measured:fake-file-sensor"

    def __init__(self, path: Path, period_s: float):
        self.path = path
        super().__init__(period_s)

    def read_power(self) -> PowerSample:
        return PowerSample(float(self.path.read_text()))


class CommandSensorMeter(PollingMeter):
    """Watts from a spawned process, like `vcgencmd pmic_read_adc`."""

    name = "fake-command-sensor"
    source = "measured:fake-command-sensor"

    def __init__(self, path: Path, period_s: float):
        self.path = path
        super().__init__(period_s)

    def read_power(self) -> PowerSample:
        return PowerSample(float(run_command(["cat", str(self.path)])))


MODES = {"file": (FileSensorMeter, 0.1), "command": (CommandSensorMeter, 0.5)}


def decode_rate(runner: LlamaCppRunner, prompt: list[int], tokens: int) -> float:
    steps = timed_decode(runner, prompt[-1], tokens)
    runner.rollback(len(prompt) - 1)
    return tokens / sum(steps)


def sampler_cpu_share(make_meter, seconds: float = 3.0) -> tuple[float, int]:
    """Process CPU seconds per wall second with only the sampler running (no decoding)."""
    idle_cpu = time.process_time()
    time.sleep(seconds)
    baseline = (time.process_time() - idle_cpu) / seconds
    meter = make_meter().start()
    cpu0, wall0, n0 = time.process_time(), time.perf_counter(), meter.samples_taken
    time.sleep(seconds)
    share = (time.process_time() - cpu0) / (time.perf_counter() - wall0) - baseline
    samples = meter.samples_taken - n0
    meter.close()
    return max(share, 0.0), samples


def compare(runner, prompt, make_meter, pairs: int, tokens: int) -> dict:
    off, on, ratios, samples = [], [], [], 0
    for pair in range(pairs):
        order = ("off", "on") if pair % 2 == 0 else ("on", "off")  # ABBA
        rates = {}
        for arm in order:
            if arm == "on":
                meter = make_meter().start()
                window = meter.start_window()
                rates[arm] = decode_rate(runner, prompt, tokens)
                meter.end_window(window)
                samples += meter.samples_taken
                meter.close()
            else:
                rates[arm] = decode_rate(runner, prompt, tokens)
        off.append(rates["off"])
        on.append(rates["on"])
        ratios.append(rates["on"] / rates["off"])
    return {"off": off, "on": on, "ratios": ratios, "samples": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="models.yaml")
    parser.add_argument("--draft", default="qwen2.5-coder-0.5b")
    parser.add_argument("--quant", default="Q4_K_M")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--context", type=int, default=16)
    parser.add_argument("--modes", default="file,command")
    args = parser.parse_args()

    sensor = Path(tempfile.mkdtemp()) / "power_w"
    sensor.write_text("7.5\n")
    model = load_registry(args.models).get(args.draft)
    runner = LlamaCppRunner(model_file(model, args.quant), threads=args.threads,
                            n_ctx=args.context + args.tokens + 16)  # fmt: skip
    worst = 0.0
    try:
        prompt = profile_tokens(runner, args.context)
        runner.forward(prompt[:-1])
        decode_rate(runner, prompt, 8)  # warm-up
        print(f"{args.draft} {args.quant}, {args.threads} threads, {args.tokens} tokens per run, "
              f"{args.pairs} off/on pairs (ABBA)")  # fmt: skip
        header = f"{'sensor':<9}{'period':>8}{'off tok/s':>11}{'on tok/s':>10}"
        print(header + f"{'overhead':>10}{'samples':>9}{'sampler CPU':>13}")
        for mode in args.modes.split(","):
            cls, period = MODES[mode]
            make = lambda cls=cls, period=period: cls(sensor, period)  # noqa: E731
            result = compare(runner, prompt, make, args.pairs, args.tokens)
            share, _ = sampler_cpu_share(make)
            overhead = 1 - statistics.median(result["ratios"])
            worst = max(worst, overhead)
            print(f"{mode:<9}{period:>7}s{statistics.mean(result['off']):>11.2f}"
                  f"{statistics.mean(result['on']):>10.2f}{overhead:>+10.2%}"
                  f"{result['samples']:>9}{share:>12.2%}")  # fmt: skip
            spread = statistics.pstdev(result["ratios"])
            print(
                f"{'':<9}per-pair on/off ratios: "
                + " ".join(f"{r:.3f}" for r in result["ratios"])
                + f" (sd {spread:.3f})"
            )
    finally:
        runner.close()
    verdict = "PASS" if worst < 0.03 else "FAIL"
    print(f"largest overhead {worst:+.2%} (target < 3%): {verdict}")
    print(
        "sensor: a fake that reads a file / spawns `cat` (no power sensor on this machine); "
        "sampler CPU = extra process CPU time per wall second with the sampler alone"
    )


if __name__ == "__main__":
    import sys

    sys.stdout.reconfigure(line_buffering=True)  # rows appear as measured, even when redirected
    main()
