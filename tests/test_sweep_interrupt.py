"""Ctrl-C during a sweep keeps the cells already measured, in a valid file."""

from __future__ import annotations

import pytest

from configspec.profiles.drafting import DeviceProfile, DraftCell, DraftingSettings, Prefill
from configspec.profiles.io import load_profile, save_profile
from configspec.profiles.summary import Summary
from configspec.profiling import drafting_sweep
from device_profilers.estimate import EstimatedMeter, PowerEstimate


def fake_cell(name: str) -> DraftCell:
    """A hand-built cell (not a measurement): only the sweep's bookkeeping is under test here."""
    one = Summary.of([1.0, 1.0])
    return DraftCell(
        draft=name, target="t", quant="Q4_K_M", file="/x.gguf", file_sha256="0" * 64,
        file_bytes=1, load_s=0.0, decode=[],
        prefill=Prefill(prompt_tokens=1, tokens_per_s=one, samples_s=[1.0, 1.0]),
    )  # fmt: skip


def test_interrupt_keeps_measured_cells(tmp_path, monkeypatch, demo_registry):
    calls = []

    def profile_cell(cell, threads, settings, meter, on_step=None, on_busy=None):
        calls.append(cell)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return fake_cell(cell.model.name + cell.quant), [], "0.3.36"

    monkeypatch.setattr(drafting_sweep, "profile_cell", profile_cell)
    meter = EstimatedMeter(PowerEstimate(1.0, 2.0, "estimated:user", "test"))
    profile = drafting_sweep.new_profile(
        "dev", DraftingSettings(), meter, {}, "llama_cpp", "0.3.36"
    )
    out = tmp_path / "p.json"
    cells = drafting_sweep.select_cells(demo_registry)
    assert len(cells) == 4
    with pytest.raises(KeyboardInterrupt):
        drafting_sweep.run_sweep(cells, profile, out, meter)
    kept = load_profile(out, DeviceProfile)
    assert kept.interrupted is True
    assert [c.draft for c in kept.cells] == ["qwen2.5-coder-0.5bQ4_K_M"]


def test_existing_result_survives_a_failing_save(tmp_path, monkeypatch):
    meter = EstimatedMeter(PowerEstimate(1.0, 2.0, "estimated:user", "test"))
    profile = drafting_sweep.new_profile("dev", DraftingSettings(), meter, {}, "llama_cpp", "x")
    out = tmp_path / "p.json"
    save_profile(profile, out)
    before = out.read_text()

    def broken_dump(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(DeviceProfile, "model_dump_json", broken_dump)
    with pytest.raises(RuntimeError):
        save_profile(profile, out)
    assert out.read_text() == before
