"""models.yaml validation: every mistake gets one line naming the place and the fix."""

from __future__ import annotations

import pytest

from configspec.errors import ConfigspecError
from configspec.registry import load_registry
from tests.conftest import ROOT

GOOD = """
schema_version: 1
models:
  - name: big
    role: target
    family: qwen2.5
    source: {path: /models/big.gguf}
    quant: Q4_K_M
    quantizations: [Q4_K_M]
  - name: small
    role: draft
    target: big
    family: qwen2.5
    source: {demo: qwen2.5-coder-0.5b-instruct-q4_k_m}
    quant: q4_k_m
    quantizations: [Q4_K_M, q8_0]
"""


def test_shipped_registry_is_valid():
    registry = load_registry(ROOT / "models.yaml")
    assert [m.name for m in registry.targets] == ["qwen2.5-coder-1.5b"]
    draft = registry.get("qwen2.5-coder-0.5b")
    assert draft.quantizations == ["Q4_K_M", "Q8_0", "Q2_K", "F16"]
    assert registry.get("qwen2.5-coder-1.5b-as-draft").in_default_sweep is False


def test_good_registry_normalises_quant_case(write_registry):
    registry = load_registry(write_registry(GOOD))
    assert registry.get("small").quantizations == ["Q4_K_M", "Q8_0"]
    assert registry.get("small").quant == "Q4_K_M"
    assert registry.get("small").source.kind == "demo"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    role: draft\n", "    role: draft\n    colour: red\n", "models.1.colour: unknown key"),
        ("    family: qwen2.5\n    source: {demo", "    source: {demo", "models.1.family: Field required"),
        ("[Q4_K_M, q8_0]", "[Q4_K_M, Q9_X]", "unknown quantization 'Q9_X'"),
        ("family: qwen2.5\n    source: {demo", "family: llama3\n    source: {demo",
         "cannot draft for 'big'"),
        ("    target: big\n", "", "a draft needs 'target'"),
        ("    target: big\n", "    target: nobody\n", "names target 'nobody'"),
        ("{path: /models/big.gguf}", "{path: /a.gguf, hf: x/y, file: z}", "exactly one of"),
        ("{path: /models/big.gguf}", "{hf: org/repo}", "for llama_cpp needs 'file'"),
        ("name: small", "name: big", "repeated: big"),
        ("schema_version: 1", "schema_version: 7", "schema_version"),
    ],
)  # fmt: skip
def test_schema_errors_have_clear_messages(write_registry, old, new, message):
    assert old in GOOD
    with pytest.raises(ConfigspecError) as err:
        load_registry(write_registry(GOOD.replace(old, new, 1)))
    text = str(err.value)
    assert message in text
    assert "\n" not in text


def test_malformed_yaml_and_missing_file(write_registry, tmp_path):
    with pytest.raises(ConfigspecError, match="not valid YAML"):
        load_registry(write_registry("models: [\n  - name: x\n  bad"))
    with pytest.raises(ConfigspecError, match="expected a mapping"):
        load_registry(write_registry("- just a list"))
    with pytest.raises(ConfigspecError, match="not found"):
        load_registry(tmp_path / "absent.yaml")
