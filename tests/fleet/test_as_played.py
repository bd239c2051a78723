"""The model's inputs as a fleet run played them: each group's prompts once per session that had
a round in the measured span."""

from __future__ import annotations

from types import SimpleNamespace

from configspec.fleet.predict import FleetTerms, as_played, group_load
from configspec.profiles.fleet import FleetProfile, FleetRound, FleetSession
from tests.fleet.builders import fleet_inputs, group_inputs


def _round(group, device, session, start_s):
    return FleetRound.model_construct(group=group, device=device, session=session, index=0,
                                      start_s=start_s, answer_s=start_s + 1.0)  # fmt: skip


def _session(group, device, session, prompt):
    return FleetSession.model_construct(group=group, device=device, session=session,
                                        prompt=prompt)  # fmt: skip


def test_each_group_gets_the_prompts_it_played_in_the_span():
    inputs = fleet_inputs(group_inputs("a", count=2), group_inputs("b"))
    profile = FleetProfile.model_construct(
        settings=SimpleNamespace(warmup_s=10.0, duration_s=100.0),
        round_samples=[
            _round("a", 0, 1, 5.0),  # before the span: its session is not counted
            _round("a", 0, 2, 20.0), _round("a", 0, 2, 30.0),  # one session, two rounds
            _round("a", 1, 1, 40.0),
            _round("a", 1, 2, 109.5),  # its verdict comes after the end: not counted
        ],
        session_samples=[_session("a", 0, 1, "p0"), _session("a", 0, 2, "p1"),
                         _session("a", 1, 1, "p1"), _session("a", 1, 2, "p2")],
    )  # fmt: skip
    played = as_played(inputs, profile)
    assert [p.id for p in played.groups[0].prompts] == ["p1", "p1"]
    # a group with no session in the span keeps the whole set
    assert [p.id for p in played.groups[1].prompts] == ["p0", "p1", "p2"]
    # and the model's means follow: p1's alone, not the whole set's
    only_p1 = group_inputs("a", count=2, works=[inputs.groups[0].prompts[1]])
    mine, whole, p1 = (group_load(g, inputs.n_vocab, FleetTerms())
                       for g in (played.groups[0], inputs.groups[0], only_p1))  # fmt: skip
    assert mine.tokens_per_round == p1.tokens_per_round != whole.tokens_per_round
