"""The seeds of many children of a NumPy SeedSequence at once: their ``generate_state`` words
(a synthetic oracle's Philox keys) and PCG64 states (a time model's streams).

Child c of ``parent`` is ``SeedSequence(parent.entropy, spawn_key=(*parent.spawn_key, c),
pool_size=p)``, and its words ``generate_state(count, np.uint64)``. NumPy's SeedSequence
(numpy/random/bit_generator.pyx) hashes its entropy words into a pool of p 32-bit words: the
run entropy (padded to p words), then the spawn key, each later word mixed into every pool word
by ``mix(pool, hashmix(word))`` with a hash constant that moves on at every ``hashmix``. A
child's words are its parent's followed by c's own, so its pool before c's word is the parent's
``pool``, and the hash constant there depends only on how many words came before:
:func:`child_states` mixes c's word into the parent's pool and hashes the pool into the words
for all children at once, in uint32 array arithmetic.
"""

from __future__ import annotations

import numpy as np

__all__ = ["child_pcg64_states", "child_seed", "child_states"]

_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715
_WORD = 2**32


def child_states(parent: np.random.SeedSequence, children: np.ndarray, count: int) -> np.ndarray:
    """``generate_state(count, np.uint64)`` of child c of ``parent`` for each c: m × count
    uint64."""
    children = np.asarray(children, dtype=np.uint64)
    if len(children) and int(children.max()) >= _WORD:  # c takes more than one word
        return np.array(
            [child_seed(parent, int(c)).generate_state(count, np.uint64) for c in children]
        ).reshape(len(children), count)
    size = parent.pool_size
    words_before = max(_word_count(parent.entropy), size) + _word_count(parent.spawn_key)
    hash_const = _INIT_A * pow(_MULT_A, size * size + (words_before - size) * size, _WORD) % _WORD
    word = children.astype(np.uint32)
    pool = []
    for parent_word in parent.pool.tolist():
        hashed = word ^ np.uint32(hash_const)
        hash_const = hash_const * _MULT_A % _WORD
        hashed *= np.uint32(hash_const)
        hashed ^= hashed >> np.uint32(16)
        mixed = np.uint32(_MIX_MULT_L * parent_word % _WORD) - np.uint32(_MIX_MULT_R) * hashed
        pool.append(mixed ^ (mixed >> np.uint32(16)))
    key = np.empty((len(word), 2 * count), dtype=np.uint32)
    hash_const = _INIT_B
    for index in range(2 * count):
        value = pool[index % size] ^ np.uint32(hash_const)
        hash_const = hash_const * _MULT_B % _WORD
        value *= np.uint32(hash_const)
        key[:, index] = value ^ (value >> np.uint32(16))
    return key.astype("<u4").view("<u8").astype(np.uint64)


_PCG_MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645
_MASK_128 = (1 << 128) - 1


def child_pcg64_states(
    parent: np.random.SeedSequence, children: np.ndarray
) -> list[tuple[int, int]]:
    """(state, inc) of ``np.random.PCG64(child)`` for each child c of ``parent``: NumPy's
    ``pcg64_set_seed`` of the child's four words (seed = w0·2^64 + w1, sequence = w2·2^64 +
    w3): inc = 2·sequence + 1, state = ((0·A + inc) + seed)·A + inc mod 2^128 (A the PCG
    multiplier). At n = 10^5 a PCG64 built from each child's SeedSequence took 8 of the 17
    profiled seconds of the scheduled rounds."""
    states = []
    for w0, w1, w2, w3 in child_states(parent, children, 4).tolist():
        inc = (((w2 << 64) | w3) << 1 | 1) & _MASK_128
        state = (((inc + ((w0 << 64) | w1)) & _MASK_128) * _PCG_MULTIPLIER + inc) & _MASK_128
        states.append((state, inc))
    return states


def _word_count(entropy) -> int:
    """How many 32-bit words SeedSequence makes of an int (at least one) or a sequence of ints."""
    if isinstance(entropy, int | np.integer):
        return max(1, -(-int(entropy).bit_length() // 32))
    return sum(_word_count(value) for value in entropy)


def child_seed(parent: np.random.SeedSequence, child: int) -> np.random.SeedSequence:
    """Child ``child`` of ``parent``: what ``parent.spawn`` gives as its child of that number."""
    spawn_key = (*parent.spawn_key, child)
    return np.random.SeedSequence(parent.entropy, spawn_key=spawn_key, pool_size=parent.pool_size)
