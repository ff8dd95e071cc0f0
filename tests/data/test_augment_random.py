"""Call seeds of the batch augmentations: global or own stream, checkpointed state, ranks."""

from __future__ import annotations

import copy

import pytest
import torch

from contrastlab.data import augment_random
from contrastlab.data.augment_random import (
    GlobalSeedStream,
    SeededStream,
    hash_seed,
    seed_stream,
)

CPU = torch.device("cpu")


def _draw(stream: GlobalSeedStream) -> tuple[list[float], float]:
    generator, host_random = stream.next_generators(CPU)
    return torch.rand(4, generator=generator).tolist(), host_random.random()


def test_splitmix64_reference_value() -> None:
    # SplitMix64 from state 0: the first output is 0xE220A8397B1DCDAF (Vigna's reference code).
    assert augment_random._splitmix64(0) == 0xE220A8397B1DCDAF
    assert hash_seed(0) == 0xE220A8397B1DCDAF % (2**63 - 1)
    assert len({hash_seed(seed, 0, call) for seed in range(3) for call in range(100)}) == 300


def test_global_stream_follows_torch_manual_seed() -> None:
    stream = seed_stream(None)
    assert type(stream) is GlobalSeedStream and stream.state_dict() == {}
    torch.manual_seed(3)
    first, second = _draw(stream), _draw(stream)
    assert first != second
    torch.manual_seed(3)
    assert _draw(GlobalSeedStream()) == first


def test_seeded_stream_state_round_trip() -> None:
    stream = seed_stream(11)
    assert isinstance(stream, SeededStream)
    _draw(stream)
    state = stream.state_dict()
    assert state == {"_extra_state": {"seed": 11, "calls": 1}}
    expected = _draw(stream)
    restored = SeededStream(0)
    restored.load_state_dict(state)
    assert _draw(restored) == expected
    torch.manual_seed(0)  # independent of the global generator
    assert _draw(SeededStream(11)) != expected and _draw(SeededStream(11)) == _draw(
        SeededStream(11)
    )


def test_bad_states_and_seeds_are_rejected() -> None:
    with pytest.raises(ValueError, match="seed"):
        SeededStream(-1)
    with pytest.raises(ValueError, match="'seed': int, 'calls': int"):
        SeededStream(0).load_state_dict({"_extra_state": {"seed": 1}})
    with pytest.raises(ValueError, match="calls"):
        SeededStream(0).load_state_dict({"_extra_state": {"seed": 1, "calls": -2}})


def test_ranks_draw_different_numbers_from_one_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = {}
    for rank in (0, 1):
        monkeypatch.setattr(augment_random, "_process_rank", lambda rank=rank: rank)
        draws[rank] = _draw(SeededStream(5))
        assert _draw(SeededStream(5)) == draws[rank]
    assert draws[0] != draws[1]


def test_copies_continue_the_same_stream() -> None:
    stream = SeededStream(2)
    _draw(stream)
    clone = copy.deepcopy(stream)
    assert _draw(clone) == _draw(stream)
