"""NumPy's standard normal draws of many Philox4x64-10 streams at once.

A generator ``np.random.Generator(np.random.Philox(...))`` seated at key k and counter
(0, index, 0, 0) with an empty buffer reads 64-bit words w_0, w_1, ...: w_j is lane j mod 4 of
the block Philox₁₀(counter (1 + ⌊j/4⌋, index, 0, 0), key k) (numpy's philox.h raises the
counter's first lane before each block). ``standard_normal(d)`` turns words into values by the
ziggurat of numpy's ``random_standard_normal``: layer i = w & 0xff, sign bit 8, magnitude
r = bits 9..60; the value ±r·WI[i] is taken when r < KI[i] (98.5 % of words), otherwise
the draw reads further words. :func:`first_word_normals` computes, for many (key, index)
streams in one pass of array arithmetic, the d values of the first d words and whether every
one of them was taken at its word: where it was, they are NumPy's draw bit for bit (the
caller draws the others with NumPy itself).

Philox₁₀ (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): ten rounds
(c₀, c₁, c₂, c₃) → (hi(M₁c₂) ⊕ c₁ ⊕ k₀, lo(M₁c₂), hi(M₀c₀) ⊕ c₃ ⊕ k₁, lo(M₀c₀)), the key
raised by the Weyl constants (W₀, W₁) before every round but the first.
"""

from __future__ import annotations

import numpy as np

from asyncsim.oracles.ziggurat_tables import KI, WI

__all__ = ["first_word_normals", "philox4x64", "stream_words", "ziggurat_fast_path"]

_MULTIPLIERS = (0xD2E7470EE14C6C93, 0xCA5A826395121157)
_WEYL = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBB67AE8584CAA73B))
_ROUNDS = 10
_LOW32 = np.uint64(0xFFFFFFFF)
_MAGNITUDE = np.uint64((1 << 52) - 1)
_KI = np.array(KI, dtype=np.uint64)
_WI = np.array(WI, dtype=np.float64)


def _mulhilo(multiplier: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(high, low) 64-bit halves of the 128-bit product multiplier · x, from 32-bit limbs."""
    m_low, m_high = np.uint64(multiplier & 0xFFFFFFFF), np.uint64(multiplier >> 32)
    x_low, x_high = x & _LOW32, x >> np.uint64(32)
    low_high = m_low * x_high
    high_low = m_high * x_low
    carry = ((m_low * x_low) >> np.uint64(32)) + (low_high & _LOW32) + (high_low & _LOW32)
    high = m_high * x_high + (low_high >> np.uint64(32)) + (high_low >> np.uint64(32))
    high += carry >> np.uint64(32)
    return high, np.uint64(multiplier) * x


def philox4x64(counters: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Philox4x64-10 blocks of ``counters`` (m × 4) under ``keys`` (m × 2), all uint64: m × 4."""
    c0, c1, c2, c3 = (counters[:, lane].copy() for lane in range(4))
    k0, k1 = keys[:, 0].copy(), keys[:, 1].copy()
    for round_ in range(_ROUNDS):
        if round_:
            k0 += _WEYL[0]
            k1 += _WEYL[1]
        high0, low0 = _mulhilo(_MULTIPLIERS[0], c0)
        high1, low1 = _mulhilo(_MULTIPLIERS[1], c2)
        c0, c1, c2, c3 = high1 ^ c1 ^ k0, low1, high0 ^ c3 ^ k1, low0
    return np.stack((c0, c1, c2, c3), axis=1)


def first_word_normals(
    keys: np.ndarray, indices: np.ndarray, dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each stream (key, index): the ziggurat values of its first ``dim`` words (m × dim)
    and whether all of them were taken at their word (m booleans: the draw is exact there)."""
    values, taken = ziggurat_fast_path(stream_words(keys, indices, dim))
    return values, taken.all(axis=1)


def stream_words(keys: np.ndarray, indices: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` words of each stream seated at key and counter (0, index, 0, 0)
    with an empty buffer: m × count uint64."""
    blocks = -(-count // 4)
    counters = np.zeros((len(keys), blocks, 4), dtype=np.uint64)
    counters[:, :, 0] = np.arange(1, blocks + 1, dtype=np.uint64)
    counters[:, :, 1] = indices[:, None]
    words = philox4x64(counters.reshape(-1, 4), np.repeat(keys, blocks, axis=0))
    return words.reshape(len(keys), 4 * blocks)[:, :count]


def ziggurat_fast_path(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The value ±r·WI[i] of each 64-bit word and whether the fast path takes it (r < KI[i])."""
    layer = (words & np.uint64(0xFF)).astype(np.intp)
    magnitude = (words >> np.uint64(9)) & _MAGNITUDE
    values = magnitude.astype(np.float64) * _WI[layer]
    np.negative(values, out=values, where=((words >> np.uint64(8)) & np.uint64(1)).astype(bool))
    return values, magnitude < _KI[layer]
