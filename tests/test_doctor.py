"""`configspec doctor`: compiled CPU features read from llama.cpp's own system info."""

from __future__ import annotations

import pytest

from configspec.doctor import compiled_features
from tests.test_cli import run_cli

# llama_print_system_info of llama-cpp-python 0.3.36, recorded: a native build on an AMX Xeon,
# configspec's build on the same machine, and a native build on a Raspberry Pi 5 (aarch64).
XEON_NATIVE = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 "
               "| BMI2 = 1 | AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | "
               "AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |")  # fmt: skip
XEON_NO_AMX = XEON_NATIVE.replace("AMX_INT8 = 1 | ", "")
PI5 = "CPU : NEON = 1 | ARM_FMA = 1 | FP16_VA = 1 | DOTPROD = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |"


def test_amx_compiled_in_is_seen():
    assert compiled_features(XEON_NATIVE, "x86_64")["AMX_INT8"] is True


def test_absent_features_of_the_architecture_are_listed_as_no():
    features = compiled_features(XEON_NO_AMX, "x86_64")
    assert features["AMX_INT8"] is False and features["AVX512"] is True


def test_aarch64_lists_its_own_features():
    features = compiled_features(PI5, "aarch64")
    assert features["NEON"] and features["DOTPROD"] and not features["SVE"]
    assert "AVX2" not in features


@pytest.mark.real_model
def test_doctor_on_this_machine(demo_draft_path):
    result = run_cli("doctor", "--model-file", str(demo_draft_path))
    assert result.returncode == 0, result.stderr
    for label in ("backend", "system info", "compiled in", "CPU flags", "threads", "probe"):
        assert f"{label}:" in result.stdout
    assert "AMX_INT8=no" in result.stdout or "AMX_INT8" not in result.stdout
