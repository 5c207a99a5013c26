"""The MuJoCo fast path: Gymnasium's v5 MuJoCo tasks stepped as one batch of simulations.

A rollout's environments of one spec step together in MuJoCo's batch API (``mjb_*``, MuJoCo 4):
persistent simulations, one ``mjData`` each, advanced by ``mjb_step(nstep = frame_skip)`` on a
C thread pool with the GIL released. Observations, rewards and terminations are then computed
with vectorised NumPy from the simulations' state rows and copied-out fields, by the formulas of
Gymnasium's environment of the same id (``gymnasium/envs/mujoco/<task>_v5.py``):

* the physics is Gymnasium's call (``mj_step`` × frame_skip, then ``mj_rnePostConstraint`` for
  the tasks that read ``cfrc_ext``) on a copy of the environment's own model, so the states are
  equal bit for bit;
* a reset is Gymnasium's own ``env.reset(seed=...)`` on a reference environment, whose
  integration state (``mjSTATE_INTEGRATION``) is copied into the simulation: the reset noise and
  the first observation are Gymnasium's by construction;
* observations and rewards repeat Gymnasium's arithmetic and dtypes (a float32 action's
  control cost is summed in float32, as ``np.sum(np.square(action))`` does there).

``mujoco.rollout`` is not used: it does not carry the solver's warm start between calls and
computes none of the ``mj_forward`` quantities. The Python ``mujoco.batch.Batch`` does not
expose ``mjb_apply`` (needed for ``mj_rnePostConstraint`` on each simulation), so the batch is
driven through ctypes, its symbols resolved through the ``mujoco._batch`` extension module
(which links the MuJoCo library): no library file name is spelt here.

:func:`fast_path_reason` says why a spec is not covered (None when it is): only the ids of
:data:`FAST_PATH_IDS`, Gymnasium's own classes, bookkeeping wrappers and the keyword arguments
each task lists are; everything else runs through Gymnasium.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np

from asyncsim.rl.envs import BOOKKEEPING_WRAPPERS, AgentEnvSpec, make_env

__all__ = [
    "FAST_PATH_IDS",
    "BatchedMujocoEnv",
    "FastPathUnavailable",
    "MujocoSimulations",
    "fast_env_ids",
    "fast_path_reason",
    "is_mujoco_env",
]


class FastPathUnavailable(RuntimeError):
    """The installed MuJoCo has no usable batch API (the message says what is missing)."""


# ------------------------------------------------------------------------------- C binding
_INT_P = ctypes.POINTER(ctypes.c_int)
_DOUBLE_P = ctypes.POINTER(ctypes.c_double)


class _BatchConfig(ctypes.Structure):
    """``mjBatchConfig``: threads including the caller's, one mjData per simulation or not."""

    _fields_ = (("nthread", ctypes.c_int), ("persistent", ctypes.c_ubyte))


_PROTOTYPES: dict[str, tuple[Any, list[Any]]] = {
    "mjb_makeBatch": (
        ctypes.c_void_p,
        [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.POINTER(_BatchConfig),
            ctypes.c_char_p,
            ctypes.c_int,
        ],
    ),
    "mjb_deleteBatch": (None, [ctypes.c_void_p]),
    "mjb_nstate": (ctypes.c_int, [ctypes.c_void_p]),
    "mjb_state": (_DOUBLE_P, [ctypes.c_void_p]),
    "mjb_stateComponent": (_DOUBLE_P, [ctypes.c_void_p, ctypes.c_int, _INT_P]),
    "mjb_output": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p, _INT_P, _INT_P]),
    # ids are passed as the address of an int32 array (``ndarray.ctypes.data``): building a
    # ctypes pointer object (``data_as``) cost more than the call itself
    "mjb_step": (
        ctypes.c_int,
        [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int],
    ),
    "mjb_forward": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]),
    "mjb_reset": (
        ctypes.c_int,
        [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int],
    ),
    "mjb_apply": (
        ctypes.c_int,
        [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int,
        ],
    ),
    "mjb_status": (_INT_P, [ctypes.c_void_p]),
    "mjb_error": (ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_int]),
}


@functools.cache
def _library() -> ctypes.CDLL:
    """The MuJoCo library's batch functions, through the extension module that links it.

    ``dlsym`` on a loaded module's handle also searches the libraries it depends on, so the
    symbols resolve to the very library ``import mujoco`` loaded (ctypes releases the GIL
    around each call).

    Raises:
        FastPathUnavailable: the batch API is missing (MuJoCo < 4, or a platform whose
            loader does not search dependencies this way).
    """
    if np.dtype(mujoco.MJTNUM_DTYPE) != np.float64:
        raise FastPathUnavailable("MuJoCo is built with single-precision mjtNum")
    try:
        from mujoco import _batch

        lib = ctypes.CDLL(_batch.__file__)
        for name, (restype, argtypes) in _PROTOTYPES.items():
            function = getattr(lib, name)
            function.restype, function.argtypes = restype, argtypes
        lib.mj_rnePostConstraint  # noqa: B018 (resolved now so that a failure is reported here)
    except (ImportError, OSError, AttributeError) as exc:
        raise FastPathUnavailable(f"MuJoCo {mujoco.__version__} has no batch API ({exc})") from exc
    return lib


class MujocoSimulations:
    """``nsim`` persistent simulations of a copy of ``model`` (``mjBatch``), on ``nthread``
    threads including the caller's.

    ``state`` is the (nsim, nstate) array of integration states (``mj_getState`` order);
    ``qpos``, ``qvel`` and ``ctrl`` are views of its ``columns``. :meth:`output` registers an
    ``mjData`` field that every call copies out, as an (nsim, size) array. Ids are sorted
    int32 arrays. Results are bit-identical at any thread count (MuJoCo's contract).
    """

    def __init__(self, model: mujoco.MjModel, nsim: int, nthread: int = 1) -> None:
        self._lib = lib = _library()
        error = ctypes.create_string_buffer(1000)
        config = _BatchConfig(nthread, 1)
        handle = lib.mjb_makeBatch(model._address, nsim, ctypes.byref(config), error, len(error))
        if not handle:
            raise FastPathUnavailable(f"mjb_makeBatch failed: {error.value.decode()}")
        self._handle, self.model, self.nsim, self.nthread = handle, model, nsim, nthread
        self.nstate = lib.mjb_nstate(handle)
        first = lib.mjb_state(handle)
        self.state = np.ctypeslib.as_array(first, (nsim, self.nstate))
        self._base = ctypes.addressof(first.contents)
        self.columns = {
            name: self._columns(bit)
            for name, bit in (
                ("qpos", mujoco.mjtState.mjSTATE_QPOS),
                ("qvel", mujoco.mjtState.mjSTATE_QVEL),
                ("ctrl", mujoco.mjtState.mjSTATE_CTRL),
            )
        }
        self.qpos, self.qvel, self.ctrl = (self.state[:, self.columns[k]] for k in self.columns)
        self._outputs: dict[str, np.ndarray] = {}
        self._rne = ctypes.cast(lib.mj_rnePostConstraint, ctypes.c_void_p)

    def _columns(self, bit: mujoco.mjtState) -> slice:
        """The columns of ``state`` that hold one state component."""
        size = ctypes.c_int()
        address = self._lib.mjb_stateComponent(self._handle, int(bit), ctypes.byref(size))
        offset = (ctypes.addressof(address.contents) - self._base) // 8
        return slice(offset, offset + size.value)

    def output(self, name: str) -> np.ndarray:
        """The (nsim, size) float64 copy of ``mjData.<name>`` refreshed by every call."""
        if name not in self._outputs:
            size, elem = ctypes.c_int(), ctypes.c_int()
            address = self._lib.mjb_output(
                self._handle, name.encode(), ctypes.byref(size), ctypes.byref(elem)
            )
            if not address or elem.value != 8:
                raise ValueError(f"mjData.{name}: not a float64 field the batch can copy out")
            rows = ctypes.cast(address, _DOUBLE_P)
            self._outputs[name] = np.ctypeslib.as_array(rows, (self.nsim, size.value))
        return self._outputs[name]

    def reset(self, ids: np.ndarray, states: np.ndarray) -> None:
        """Reset simulations ``ids`` (``mj_resetData``), load integration ``states`` into them
        and run ``mj_forward`` (as Gymnasium's ``set_state`` does)."""
        ids = np.ascontiguousarray(ids, np.int32)
        self._check(self._lib.mjb_reset(self._handle, ids.ctypes.data, len(ids), None, 0), ids)
        self.state[ids] = states
        stage = int(mujoco.mjtStage.mjSTAGE_ACC)
        self._check(self._lib.mjb_forward(self._handle, ids.ctypes.data, len(ids), stage), ids)

    def step(self, ids: np.ndarray, nstep: int, contact_forces: bool) -> None:
        """``mj_step`` × ``nstep`` on ``ids`` (their ``ctrl`` set beforehand), then, with
        ``contact_forces``, ``mj_rnePostConstraint`` (``cfrc_ext``) as Gymnasium does.

        ``mjb_apply`` does not copy the outputs out; ``mjb_forward`` with stage
        ``mjSTAGE_NONE`` computes nothing and does.
        """
        ids = np.ascontiguousarray(ids, np.int32)
        handle, lib, arg, n = self._handle, self._lib, ids.ctypes.data, len(ids)
        self._check(lib.mjb_step(handle, arg, n, nstep, 0), ids)
        if contact_forces:
            # mj_rnePostConstraint(m, d) called as an mjfBatchFunc(m, d, sim, arg): the two
            # extra arguments are ignored by the callee under the C calling conventions of
            # the platforms MuJoCo supports.
            self._check(lib.mjb_apply(handle, arg, n, self._rne, None, 0), ids)
            self._check(lib.mjb_forward(handle, arg, n, 0), ids)

    def _check(self, failed: int, ids: np.ndarray) -> None:
        if failed:
            status = np.ctypeslib.as_array(self._lib.mjb_status(self._handle), (self.nsim,))
            sim = int(ids[np.flatnonzero(status[ids])[0]])
            message = self._lib.mjb_error(self._handle, sim).decode()
            raise RuntimeError(f"MuJoCo failed in {failed} simulation(s); {sim}: {message}")

    def close(self) -> None:
        """Free the batch (its arrays must not be used afterwards)."""
        if self._handle:
            self._lib.mjb_deleteBatch(self._handle)
            self._handle = None

    def __del__(self) -> None:
        self.close()


# ------------------------------------------------------------------------------------ tasks
def _clip(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """``np.clip(x, low, high)`` as min(max(x, low), high): the same values (NaN stays NaN),
    without np.clip's Python-level argument handling (~3 µs a call, most of a small clip)."""
    return np.minimum(np.maximum(x, low), high)


def _control_cost(weight: float, actions: np.ndarray) -> np.ndarray:
    """w·Σ_j a_j² per row, in the actions' dtype (Gymnasium: ``w * np.sum(np.square(a))``).

    A float32 action makes the sum and the product float32 there (NumPy's scalar promotion).
    A row sum along the last axis takes NumPy's pairwise order of a 1-D sum (the exactness
    tests compare with Gymnasium's value bit for bit).
    """
    return weight * np.square(actions).sum(axis=1)


def _qpos_qvel(sims: MujocoSimulations, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Views of the qpos and qvel columns of gathered state rows."""
    return state[:, sims.columns["qpos"]], state[:, sims.columns["qvel"]]


def _state_vector(sims: MujocoSimulations, state: np.ndarray) -> np.ndarray:
    """(qpos, qvel) per row (Gymnasium's ``state_vector()``): a view, as mj_getState stores
    qvel right after qpos."""
    qpos, qvel = sims.columns["qpos"], sims.columns["qvel"]
    if qpos.stop == qvel.start:
        return state[:, qpos.start : qvel.stop]
    return np.concatenate(_qpos_qvel(sims, state), axis=1)


class _Task:
    """Observation, reward and termination of one Gymnasium task, vectorised over rows.

    Attributes:
        entry_point: Gymnasium's class of the id (the only one covered).
        kwargs: constructor arguments covered (each one read from the built environment).
        outputs: ``mjData`` fields copied out after each call.
        contact_forces: the task reads ``cfrc_ext`` (``mj_rnePostConstraint`` after a step).
    """

    entry_point: ClassVar[str]
    kwargs: ClassVar[frozenset[str]]
    outputs: ClassVar[tuple[str, ...]] = ()
    contact_forces: ClassVar[bool] = False

    def __init__(self, env: Any) -> None:
        self.env, self.dt, self.frame_skip = env, env.dt, env.frame_skip

    def before(self, sims: MujocoSimulations, ids: np.ndarray) -> np.ndarray | None:
        """What the reward needs from before the step (a position), or None."""
        return None

    def after(
        self,
        sims: MujocoSimulations,
        ids: np.ndarray,
        state: np.ndarray,
        before: Any,
        actions: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(observations (k, d) float64, rewards (k,) float64, terminated (k,) bool) after a
        step of simulations ``ids``, whose state rows are ``state`` (gathered once)."""
        raise NotImplementedError


_COMMON_KWARGS = frozenset({"xml_file", "frame_skip", "default_camera_config"})
"""Covered by every task: the model and frame skip are the environment's own; the camera only
renders."""


class _Locomotion(_Task):
    """Hopper, Walker2d, HalfCheetah and Swimmer: x velocity from qpos[0], control cost
    w·Σa², obs = (qpos[skip:], qvel (clipped to ±10 for Hopper and Walker2d)); Hopper and
    Walker2d are healthy while columns of the state vector (qpos, qvel) lie strictly inside
    bounds (:meth:`bounds`), with an alive bonus."""

    positions: ClassVar[int] = 1  # qpos[0] (x) or qpos[0:2] (x, y) are left out of obs
    clip_velocity: ClassVar[bool] = False

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.skip = self.positions if env._exclude_current_positions_from_observation else 0
        self.forward_weight = env._forward_reward_weight
        self.ctrl_weight = env._ctrl_cost_weight
        self.checked = self.bounds(env)
        if self.checked is not None:
            self.healthy_weight = env._healthy_reward
            self.terminate = env._terminate_when_unhealthy

    def bounds(self, env: Any) -> tuple[slice, np.ndarray, np.ndarray] | None:
        """(columns of the state vector, lower and upper bounds per column), or None for a
        task that never terminates."""
        return None

    def before(self, sims: MujocoSimulations, ids: np.ndarray) -> np.ndarray:
        return sims.qpos[ids, 0]

    def after(self, sims, ids, state, before, actions):
        qpos, qvel = _qpos_qvel(sims, state)
        forward = self.forward_weight * ((qpos[:, 0] - before) / self.dt)
        ctrl_cost = _control_cost(self.ctrl_weight, actions)
        if self.clip_velocity:
            qvel = _clip(qvel, -10, 10)
        obs = np.concatenate([qpos[:, self.skip :], qvel], axis=1)
        if self.checked is None:
            return obs, forward - ctrl_cost, np.zeros(len(ids), bool)
        columns, low, high = self.checked
        checked = _state_vector(sims, state)[:, columns]
        healthy = ((low < checked) & (checked < high)).all(axis=1)
        reward = (forward + healthy * self.healthy_weight) - ctrl_cost
        return obs, reward, ~healthy & self.terminate


class _Hopper(_Locomotion):
    entry_point = "gymnasium.envs.mujoco.hopper_v5:HopperEnv"
    kwargs = _COMMON_KWARGS | {
        "forward_reward_weight", "ctrl_cost_weight", "healthy_reward", "terminate_when_unhealthy",
        "healthy_state_range", "healthy_z_range", "healthy_angle_range", "reset_noise_scale",
        "exclude_current_positions_from_observation",
    }  # fmt: skip
    clip_velocity = True

    def bounds(self, env):
        """Gymnasium: min < state[2:] < max, z = qpos[1] and angle = qpos[2] in their ranges.
        Per column from 1 on: z's range; for the angle, which both ranges bound, the tighter
        of each; the state range for the rest (a < x and b < x ⇔ max(a, b) < x)."""
        width = env.model.nq + env.model.nv
        (s_low, s_high), (z_low, z_high) = env._healthy_state_range, env._healthy_z_range
        a_low, a_high = env._healthy_angle_range
        low, high = np.full(width - 1, float(s_low)), np.full(width - 1, float(s_high))
        low[0], high[0] = z_low, z_high
        low[1], high[1] = max(s_low, a_low), min(s_high, a_high)
        return slice(1, width), low, high


class _Walker2d(_Locomotion):
    entry_point = "gymnasium.envs.mujoco.walker2d_v5:Walker2dEnv"
    kwargs = _COMMON_KWARGS | {
        "forward_reward_weight", "ctrl_cost_weight", "healthy_reward", "terminate_when_unhealthy",
        "healthy_z_range", "healthy_angle_range", "reset_noise_scale",
        "exclude_current_positions_from_observation",
    }  # fmt: skip
    clip_velocity = True

    def bounds(self, env):
        """Gymnasium: z = qpos[1] and angle = qpos[2] strictly inside their ranges."""
        (z_low, z_high), (a_low, a_high) = env._healthy_z_range, env._healthy_angle_range
        return slice(1, 3), np.array([z_low, a_low], float), np.array([z_high, a_high], float)


class _HalfCheetah(_Locomotion):
    entry_point = "gymnasium.envs.mujoco.half_cheetah_v5:HalfCheetahEnv"
    kwargs = _COMMON_KWARGS | {
        "forward_reward_weight", "ctrl_cost_weight", "reset_noise_scale",
        "exclude_current_positions_from_observation",
    }  # fmt: skip


class _Swimmer(_Locomotion):
    entry_point = "gymnasium.envs.mujoco.swimmer_v5:SwimmerEnv"
    kwargs = _HalfCheetah.kwargs
    positions = 2


class _Humanoid(_Task):
    """Velocity of the centre of mass Σ m_b xipos_b / Σ m_b, contact cost w·Σ cfrc_ext²
    (clipped), control cost w·Σ ctrl² (float64: Gymnasium reads ``data.ctrl``), alive bonus;
    obs = (qpos[2:], qvel, cinert[1:], cvel[1:], qfrc_actuator[6:], cfrc_ext[1:])."""

    entry_point = "gymnasium.envs.mujoco.humanoid_v5:HumanoidEnv"
    kwargs = _COMMON_KWARGS | {
        "forward_reward_weight", "ctrl_cost_weight", "contact_cost_weight", "contact_cost_range",
        "healthy_reward", "terminate_when_unhealthy", "healthy_z_range", "reset_noise_scale",
        "exclude_current_positions_from_observation", "include_cinert_in_observation",
        "include_cvel_in_observation", "include_qfrc_actuator_in_observation",
        "include_cfrc_ext_in_observation",
    }  # fmt: skip
    outputs = ("xipos", "cinert", "cvel", "qfrc_actuator", "cfrc_ext")
    contact_forces = True

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.mass = env.model.body_mass.copy()
        self.skip = 2 if env._exclude_current_positions_from_observation else 0
        self.parts = [
            (name, start)
            for name, start, flag in (
                ("cinert", 10, env._include_cinert_in_observation),
                ("cvel", 6, env._include_cvel_in_observation),
                ("qfrc_actuator", 6, env._include_qfrc_actuator_in_observation),
                ("cfrc_ext", 6, env._include_cfrc_ext_in_observation),
            )
            if flag is True
        ]

    def _mass_center(self, sims: MujocoSimulations, ids: np.ndarray) -> np.ndarray:
        xipos = sims.output("xipos")[ids].reshape(len(ids), -1, 3)
        return (np.einsum("b,nbj->nj", self.mass, xipos) / self.mass.sum())[:, 0:2]

    def before(self, sims, ids):
        return self._mass_center(sims, ids)

    def after(self, sims, ids, state, before, actions):
        env = self.env
        x_velocity = ((self._mass_center(sims, ids) - before) / self.dt)[:, 0]
        qpos, qvel = _qpos_qvel(sims, state)
        healthy = (env._healthy_z_range[0] < qpos[:, 2]) & (qpos[:, 2] < env._healthy_z_range[1])
        ctrl = state[:, sims.columns["ctrl"]]
        ctrl_cost = env._ctrl_cost_weight * np.square(ctrl).sum(axis=1)
        cfrc = sims.output("cfrc_ext")[ids]
        contact = env._contact_cost_weight * np.square(cfrc).sum(axis=1)
        contact = _clip(contact, *env._contact_cost_range)
        reward = (env._forward_reward_weight * x_velocity + healthy * env._healthy_reward) - (
            ctrl_cost + contact
        )
        parts = [qpos[:, self.skip :], qvel]
        parts += [sims.output(name)[ids, start:] for name, start in self.parts]
        return np.concatenate(parts, axis=1), reward, ~healthy & env._terminate_when_unhealthy


class _Ant(_Task):
    """Velocity of the main body's frame (xpos), contact cost w·Σ clip(cfrc_ext)², control
    cost w·Σa², alive bonus; obs = (qpos[2:], qvel, clip(cfrc_ext)[1:])."""

    entry_point = "gymnasium.envs.mujoco.ant_v5:AntEnv"
    kwargs = _COMMON_KWARGS | {
        "forward_reward_weight", "ctrl_cost_weight", "contact_cost_weight", "healthy_reward",
        "main_body", "terminate_when_unhealthy", "healthy_z_range", "contact_force_range",
        "reset_noise_scale", "exclude_current_positions_from_observation",
        "include_cfrc_ext_in_observation",
    }  # fmt: skip
    outputs = ("xpos", "cfrc_ext")
    contact_forces = True

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.body = env.model.body(env._main_body).id
        self.skip = 2 if env._exclude_current_positions_from_observation else 0

    def before(self, sims, ids):
        return sims.output("xpos")[ids, 3 * self.body : 3 * self.body + 2]

    def after(self, sims, ids, state, before, actions):
        env = self.env
        after = sims.output("xpos")[ids, 3 * self.body : 3 * self.body + 2]
        x_velocity = ((after - before) / self.dt)[:, 0]
        qpos, qvel = _qpos_qvel(sims, state)
        low, high = env._healthy_z_range
        healthy = np.isfinite(_state_vector(sims, state)).all(axis=1)
        healthy &= (low <= qpos[:, 2]) & (qpos[:, 2] <= high)
        forces = _clip(sims.output("cfrc_ext")[ids], *env._contact_force_range)
        contact = env._contact_cost_weight * np.square(forces).sum(axis=1)
        ctrl_cost = _control_cost(env._ctrl_cost_weight, actions)
        reward = (x_velocity * env._forward_reward_weight + healthy * env._healthy_reward) - (
            ctrl_cost + contact
        )
        parts = [qpos[:, self.skip :], qvel]
        if env._include_cfrc_ext_in_observation:
            parts.append(forces[:, 6:])
        return np.concatenate(parts, axis=1), reward, ~healthy & env._terminate_when_unhealthy


class _Reacher(_Task):
    """reward = −|fingertip − target|·w_d − Σa²·w_c; obs = (cos θ, sin θ, qpos[2:], qvel[:2],
    (fingertip − target)[:2]) with θ = qpos[:2]; never terminates."""

    entry_point = "gymnasium.envs.mujoco.reacher_v5:ReacherEnv"
    kwargs = _COMMON_KWARGS | {"reward_dist_weight", "reward_control_weight"}
    outputs = ("xpos",)

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.fingertip = env.model.body("fingertip").id
        self.target = env.model.body("target").id

    def after(self, sims, ids, state, before, actions):
        env, xpos = self.env, sims.output("xpos")[ids]
        vec = (
            xpos[:, 3 * self.fingertip : 3 * self.fingertip + 3]
            - xpos[:, 3 * self.target : 3 * self.target + 3]
        )
        distance = -np.sqrt(np.einsum("ij,ij->i", vec, vec)) * env._reward_dist_weight
        control = -np.square(actions).sum(axis=1)
        reward = distance + control * env._reward_control_weight
        qpos, qvel = _qpos_qvel(sims, state)
        theta = qpos[:, :2]
        obs = np.concatenate(
            [np.cos(theta), np.sin(theta), qpos[:, 2:], qvel[:, :2], vec[:, :2]], axis=1
        )
        return obs, reward, np.zeros(len(ids), bool)


class _InvertedPendulum(_Task):
    """obs = (qpos, qvel); terminated when not finite or |qpos[1]| > 0.2; reward 1 unless
    terminated."""

    entry_point = "gymnasium.envs.mujoco.inverted_pendulum_v5:InvertedPendulumEnv"
    kwargs = _COMMON_KWARGS | {"reset_noise_scale"}

    def after(self, sims, ids, state, before, actions):
        obs = np.concatenate(_qpos_qvel(sims, state), axis=1)
        terminated = ~np.isfinite(obs).all(axis=1) | (np.abs(obs[:, 1]) > 0.2)
        return obs, (~terminated).astype(np.float64), terminated


class _InvertedDoublePendulum(_Task):
    """(x, y) of the tip site: reward = alive − (0.01x² + (y−2)²) − (10⁻³v₁² + 5·10⁻³v₂²),
    terminated when y ≤ 1; obs = (qpos[:1], sin qpos[1:], cos qpos[1:], clip(qvel),
    clip(qfrc_constraint)[:1])."""

    entry_point = "gymnasium.envs.mujoco.inverted_double_pendulum_v5:InvertedDoublePendulumEnv"
    kwargs = _COMMON_KWARGS | {"healthy_reward", "reset_noise_scale"}
    outputs = ("site_xpos", "qfrc_constraint")

    def after(self, sims, ids, state, before, actions):
        site = sims.output("site_xpos")[ids]
        x, y = site[:, 0], site[:, 2]
        qpos, qvel = _qpos_qvel(sims, state)
        obs = np.concatenate(
            [
                qpos[:, :1],
                np.sin(qpos[:, 1:]),
                np.cos(qpos[:, 1:]),
                _clip(qvel, -10, 10),
                _clip(sims.output("qfrc_constraint")[ids, :1], -10, 10),
            ],
            axis=1,
        )
        terminated = y <= 1
        distance = 0.01 * x**2 + (y - 2) ** 2
        velocity = 1e-3 * qvel[:, 1] ** 2 + 5e-3 * qvel[:, 2] ** 2
        alive = self.env._healthy_reward * (~terminated).astype(np.int64)
        return obs, alive - distance - velocity, terminated


_TASKS: dict[str, type[_Task]] = {
    "Hopper-v5": _Hopper,
    "Walker2d-v5": _Walker2d,
    "HalfCheetah-v5": _HalfCheetah,
    "Swimmer-v5": _Swimmer,
    "Humanoid-v5": _Humanoid,
    "Ant-v5": _Ant,
    "Reacher-v5": _Reacher,
    "InvertedPendulum-v5": _InvertedPendulum,
    "InvertedDoublePendulum-v5": _InvertedDoublePendulum,
}

FAST_PATH_IDS: tuple[str, ...] = tuple(sorted(_TASKS))
"""Gymnasium ids the fast path covers (with Gymnasium's own classes)."""


def fast_env_ids() -> list[str]:
    """The ids of :data:`FAST_PATH_IDS` that can run here (registered, batch API present)."""
    try:
        _library()
    except FastPathUnavailable:
        return []
    return [env_id for env_id in FAST_PATH_IDS if env_id in gym.registry]


def _registered_entry_point(env_id: str) -> str:
    entry = gym.spec(env_id).entry_point
    return entry if isinstance(entry, str) else f"{entry.__module__}:{entry.__qualname__}"


def is_mujoco_env(env_id: str) -> bool:
    """Whether ``env_id`` is one of Gymnasium's MuJoCo environments (any version)."""
    return env_id in gym.registry and _registered_entry_point(env_id).startswith(
        "gymnasium.envs.mujoco."
    )


def fast_path_reason(spec: AgentEnvSpec) -> str | None:
    """None when ``spec`` runs on the fast path, else why it does not (one line).

    Covered: an id of :data:`FAST_PATH_IDS` registered to Gymnasium's own class, with only
    the keyword arguments its task reads, built with only bookkeeping wrappers, on a MuJoCo
    with the batch API. The answer is kept per (id, kwargs): the check builds the environment.
    """
    key = (spec.env_id, repr(sorted(spec.env_kwargs.items())))
    if key not in _REASONS:
        _REASONS[key] = _reason(spec)
    return _REASONS[key]


_REASONS: dict[tuple[str, str], str | None] = {}


def _reason(spec: AgentEnvSpec) -> str | None:
    task = _TASKS.get(spec.env_id)
    if task is None:
        return f"{spec.env_id} has no fast path (covered: {', '.join(FAST_PATH_IDS)})"
    if _registered_entry_point(spec.env_id) != task.entry_point:
        return f"{spec.env_id} is registered to {_registered_entry_point(spec.env_id)}"
    kwargs = {**gym.spec(spec.env_id).kwargs, **spec.env_kwargs}
    uncovered = sorted(set(kwargs) - task.kwargs)
    if uncovered:
        return f"{spec.env_id}: env_kwargs {uncovered} are not covered by the fast path"
    try:
        _library()
    except FastPathUnavailable as exc:
        return str(exc)
    with make_env(spec, 1) as env:
        wrappers = _wrapper_names(env)
    if wrappers:
        return f"{spec.env_id} is built with wrappers {wrappers} the fast path does not cover"
    return None


def _wrapper_names(env: gym.Env) -> list[str]:
    """The wrappers of ``env`` other than the bookkeeping ones."""
    names = []
    while isinstance(env, gym.Wrapper):
        if not isinstance(env, BOOKKEEPING_WRAPPERS):
            names.append(type(env).__name__)
        env = env.env
    return names


class BatchedMujocoEnv:
    """The environments of one spec as simulation slots stepped together.

    Slots are rows of a :class:`MujocoSimulations` of at least ``capacity`` simulations (grown
    on demand); :meth:`reset` starts episodes in some slots and :meth:`step` advances some
    slots by one environment step. A reference Gymnasium environment of the same spec serves
    the resets and the model.
    """

    def __init__(self, spec: AgentEnvSpec, horizon: int, threads: int = 1) -> None:
        reason = fast_path_reason(spec)
        if reason is not None:
            raise FastPathUnavailable(reason)
        self.spec, self.threads = spec, threads
        self.reference = make_env(spec, horizon)
        inner = self.reference.unwrapped
        self.task = _TASKS[spec.env_id](inner)
        self._model, self._data = inner.model, inner.data
        self._nstate = mujoco.mj_stateSize(self._model, mujoco.mjtState.mjSTATE_INTEGRATION)
        self.sims: MujocoSimulations | None = None

    def ensure(self, capacity: int) -> None:
        """Have at least ``capacity`` simulation slots (episodes in progress are lost)."""
        if self.sims is None or self.sims.nsim < capacity:
            if self.sims is not None:
                capacity = max(capacity, 2 * self.sims.nsim)
                self.sims.close()
            self.sims = MujocoSimulations(self._model, capacity, self.threads)
            for name in self.task.outputs:
                self.sims.output(name)

    def reset(self, slots: np.ndarray, seeds: Sequence[int]) -> np.ndarray:
        """Start an episode in each of ``slots`` (sorted int32) with Gymnasium's reset of the
        given seed; return the first observations (k, d) float64."""
        first, states = [], np.empty((len(slots), self._nstate))
        for k, seed in enumerate(seeds):
            first.append(self.reference.reset(seed=int(seed))[0])
            mujoco.mj_getState(
                self._model, self._data, states[k], mujoco.mjtState.mjSTATE_INTEGRATION
            )
        self.sims.reset(slots, states)
        return np.array(first)

    def step(
        self, slots: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One environment step of ``slots`` (sorted int32) under ``actions`` (k, d_a).

        Returns:
            (observations (k, d) float64, rewards (k,) float64, terminated (k,) bool).
        """
        sims, task = self.sims, self.task
        before = task.before(sims, slots)
        sims.ctrl[slots] = actions
        sims.step(slots, task.frame_skip, task.contact_forces)
        return task.after(sims, slots, sims.state[slots], before, actions)

    def close(self) -> None:
        """Free the simulations and the reference environment."""
        if self.sims is not None:
            self.sims.close()
            self.sims = None
        self.reference.close()
