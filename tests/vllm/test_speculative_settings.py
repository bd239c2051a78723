"""vLLM's speculative_config as configspec writes it, checked against the installed vLLM's own
schedule validation (a contract test: it runs vLLM's function in the Python that has vLLM)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from configspec.profiles.policy import Policy
from configspec.recommend.settings import vllm_k_schedule, vllm_speculative_config

K_BY_BATCH = {1: 6, 2: 6, 4: 4, 8: 2, 16: 2, 32: 1}


def test_a_schedule_merges_equal_k_into_inclusive_ranges_from_1():
    assert vllm_k_schedule(K_BY_BATCH) == [[1, 3, 6], [4, 7, 4], [8, 31, 2], [32, 32, 1]]
    assert vllm_k_schedule({4: 3}) == [[1, 4, 3]]
    with pytest.raises(ValueError):
        vllm_k_schedule({0: 3})


def test_the_config_has_a_schedule_only_when_k_depends_on_the_batch():
    plain = vllm_speculative_config("d", Policy.fixed(4))
    assert plain == {"method": "draft_model", "model": "d", "num_speculative_tokens": 4}
    assert vllm_speculative_config("d", Policy.fixed(4), {1: 4, 8: 4}) == plain
    dynamic = vllm_speculative_config("d", Policy.fixed(4), K_BY_BATCH)
    assert dynamic["num_speculative_tokens"] == 6
    assert dynamic["num_speculative_tokens_per_batch_size"][0] == [1, 3, 6]


def test_installed_vllm_reads_the_schedule_as_meant():
    """vLLM's own expansion of the schedule (batch size -> K) is the K configspec chose."""
    python = os.environ.get("CONFIGSPEC_VLLM_PYTHON") or sys.executable
    config = vllm_speculative_config("d", Policy.fixed(4), K_BY_BATCH)
    code = (
        "import json, sys\n"
        "from vllm.config.speculative import SpeculativeConfig\n"
        "from vllm.v1.spec_decode.dynamic.utils import build_dynamic_sd_schedule_lookup\n"
        "c = json.loads(sys.argv[1])\n"
        "assert 'num_speculative_tokens_per_batch_size' in SpeculativeConfig.__dataclass_fields__\n"
        "print(json.dumps(build_dynamic_sd_schedule_lookup(\n"
        "    c['num_speculative_tokens_per_batch_size'], 40, c['num_speculative_tokens'])))\n"
    )
    result = subprocess.run([python, "-c", code, json.dumps(config)], capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, (
        f"needs the vllm extra (or CONFIGSPEC_VLLM_PYTHON): {result.stderr[-2000:]}"
    )
    dense = json.loads(result.stdout.strip().splitlines()[-1])
    for batch in range(1, 41):
        chosen = max((b for b in K_BY_BATCH if b <= batch), default=1)
        assert dense[batch] == K_BY_BATCH[chosen], batch
