"""The seeds of many children of a SeedSequence at once equal NumPy's, child by child."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncsim.core.seeds import child_pcg64_states, child_states

PARENTS = st.builds(
    lambda entropy, spawn_key, pool_size: np.random.SeedSequence(
        entropy, spawn_key=spawn_key, pool_size=pool_size
    ),
    st.one_of(st.integers(0, 3), st.integers(0, 2**200)),
    st.lists(st.one_of(st.integers(0, 5), st.integers(0, 2**70)), max_size=3),
    st.integers(4, 8),
)
CHILDREN = st.lists(st.one_of(st.integers(0, 50), st.integers(0, 2**33)), max_size=6)


def _child(parent: np.random.SeedSequence, c: int) -> np.random.SeedSequence:
    spawn_key = (*parent.spawn_key, c)
    return np.random.SeedSequence(parent.entropy, spawn_key=spawn_key, pool_size=parent.pool_size)


@settings(max_examples=80, deadline=None)
@given(parent=PARENTS, spawned=st.integers(0, 3), children=CHILDREN, count=st.sampled_from([2, 4]))
def test_child_states_are_the_words_of_numpys_spawned_seeds(parent, spawned, children, count):
    spawned_children = parent.spawn(spawned)
    numbers = [*range(spawned), *children]
    expected = [child.generate_state(count, np.uint64) for child in spawned_children] + [
        _child(parent, c).generate_state(count, np.uint64) for c in children
    ]
    words = child_states(parent, np.array(numbers, dtype=np.uint64), count)
    assert words.shape == (len(numbers), count)
    np.testing.assert_array_equal(words, np.array(expected, dtype=np.uint64).reshape(-1, count))


@settings(max_examples=60, deadline=None)
@given(parent=PARENTS, children=CHILDREN)
def test_child_pcg64_states_are_numpys(parent, children):
    states = child_pcg64_states(parent, np.array(children, dtype=np.uint64))
    for c, (state, inc) in zip(children, states, strict=True):
        expected = np.random.PCG64(_child(parent, c)).state["state"]
        assert (state, inc) == (expected["state"], expected["inc"])
