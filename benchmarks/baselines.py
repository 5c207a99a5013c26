"""Baselines the RL benchmarks divide by, measured in the same process as the run."""

from __future__ import annotations

import time

import numpy as np

from asyncsim.rl.envs import AgentEnvSpec, make_env


class BareSteps:
    """Bare Gymnasium ``env.step`` with uniform random actions (4,096 drawn once, cycled), reset
    on termination; :meth:`burst` times a number of steps."""

    def __init__(self, spec: AgentEnvSpec, horizon: int) -> None:
        self.env = make_env(spec, horizon)
        self.env.reset(seed=0)
        space = self.env.action_space
        self.actions = np.random.default_rng(0).uniform(space.low, space.high, (4096, *space.shape))
        self.actions = self.actions.astype(np.float32)
        self._next = 0
        self.clear()

    def clear(self) -> None:
        """Forget the time measured."""
        self.seconds, self.steps = 0.0, 0

    def burst(self, steps: int) -> int:
        """Take ``steps`` steps and add their time to ``seconds``; ``steps``."""
        env, start = self.env, time.perf_counter()
        for k in range(self._next, self._next + steps):
            _, _, terminated, truncated, _ = env.step(self.actions[k % len(self.actions)])
            if terminated or truncated:
                env.reset()
        self.seconds += time.perf_counter() - start
        self.steps += steps
        self._next += steps
        return steps
