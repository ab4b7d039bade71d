"""Counter-based randomness: every draw is a pure function of (key, episode, tick, slot, stream).

World i of a batch seeded with s has key ``s + i`` (as SB3's ``VecEnv.seed``
does). Its draws depend on nothing else, so a world behaves the same in a
batch of 1 or 1024 and whatever other worlds do. splitmix64's finaliser gives
well-mixed 64-bit outputs from the combined counter; all arithmetic wraps
in uint64, which numpy does silently for arrays.
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)

# Stream ids keep independent uses of randomness apart.
STREAM_FIRE = 1
STREAM_PLACE = 2
STREAM_MAP = 3
STREAM_DOCTRINE = 4
STREAM_POLICY = 5


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, elementwise on a uint64 array."""
    x = x ^ (x >> _S30)
    x = x * _M1
    x = x ^ (x >> _S27)
    x = x * _M2
    return x ^ (x >> _S31)


def episode_key(key: np.ndarray, episode: np.ndarray, stream: int) -> np.ndarray:
    """The part of a draw fixed for a whole episode; cache it per world at reset."""
    k = np.asarray(key, dtype=np.uint64)
    h = mix64(k * _GOLD + np.uint64(stream))
    return mix64(h ^ (np.asarray(episode, dtype=np.uint64) * _M1))


def draw_tick(ekey: np.ndarray, tick: np.ndarray | int, slot: np.ndarray | int) -> np.ndarray:
    """Finish a draw from an :func:`episode_key` for one tick and slot."""
    h = mix64(ekey ^ (np.asarray(tick, dtype=np.uint64) * _M2))
    return mix64(h ^ (np.asarray(slot, dtype=np.uint64) * _GOLD + np.uint64(1)))


def draw(
    key: np.ndarray,
    episode: np.ndarray,
    tick: np.ndarray | int,
    slot: np.ndarray | int,
    stream: int,
) -> np.ndarray:
    """uint64 draws broadcast over the arguments' shapes."""
    return draw_tick(episode_key(key, episode, stream), tick, slot)


def u16(x: np.ndarray) -> np.ndarray:
    """Top 16 bits of uint64 draws as int32, for comparison with hit thresholds."""
    return (x >> np.uint64(48)).astype(np.int32)
