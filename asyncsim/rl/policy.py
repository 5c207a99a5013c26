"""Gaussian policies with flat parameter vectors (docs/algorithms.md §1, paper App. H).

A policy maps an observation s to a diagonal Gaussian N(μ(s), diag σ(s)²) over a pre-squash
action u; the environment receives a = c·tanh(u) (c = action scale) or a = u when the policy is
unsquashed. The score ∇_θ log π_θ(u | s) is taken w.r.t. u: the tanh correction does not depend
on θ, so it drops out of every gradient.

Two parameterisations share one implementation (:class:`GaussianPolicy`):

* :class:`GaussianMLPPolicy` (the paper's network): Linear(d_s,64)–Tanh–Linear(64,64)–Tanh, then
  heads μ = Linear(64,d_a) and σ = Softplus(Linear(64,d_a)).
* :class:`LinearGaussianPolicy`: μ = W s + b, σ = exp(log_std) (state independent), used by the
  tests that compare against a closed-form gradient.

Three evaluation paths exist, all from the same parameters:

* ``forward`` (an ``nn.Module``; one parameter vector; used by the reference implementation);
* ``log_prob_batched``: many trajectories, each at its own parameter vector (batched matmul),
  differentiable w.r.t. a (P, n) stack of flat parameter vectors (one backward for all points);
* ``rollout_params`` + ``rollout_step``: no-grad forward used while stepping environments, whose
  per-row result is bit-for-bit independent of the batch it is computed in (see ``rollout_step``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["GaussianMLPPolicy", "GaussianPolicy", "LinearGaussianPolicy", "make_policy"]

# Width every rollout tensor row is padded to, so that element-wise kernels never take their
# scalar tail path (whose rounding differs from the SIMD path) and per-row bits do not depend
# on the batch size. 32 covers two AVX-512 float vectors.
_LANES = 32

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _pad_to_lanes(width: int) -> int:
    return -(-width // _LANES) * _LANES


class GaussianPolicy(nn.Module):
    """Diagonal Gaussian policy: tanh MLP trunk, linear mean head, softplus or log-std scale.

    Args:
        obs_dim: d_s.
        act_dim: d_a.
        hidden: hidden layer widths of the tanh trunk; ``()`` makes μ linear in s.
        std_head: σ(s) = Softplus(Linear(h)) when True, else σ = exp(log_std) (a parameter).
        action_scale: c in a = c·tanh(u) (scalar or per dimension); None means a = u.
        generator: torch generator for the initialisation (no global RNG is touched).
        init_log_std: initial log_std when ``std_head`` is False.

    Linear layers are initialised like ``torch.nn.Linear``: W, b ~ U(-1/√fan_in, 1/√fan_in).
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        hidden: Sequence[int],
        std_head: bool,
        action_scale: float | Sequence[float] | np.ndarray | None,
        generator: torch.Generator | None = None,
        init_log_std: float = 0.0,
    ) -> None:
        super().__init__()
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.hidden = tuple(int(h) for h in hidden)
        self.std_head = std_head
        widths = (self.obs_dim, *self.hidden)
        shapes = [
            s for i in range(len(self.hidden)) for s in self._linear(widths[i], widths[i + 1])
        ]
        shapes += self._linear(widths[-1], self.act_dim)
        shapes += self._linear(widths[-1], self.act_dim) if std_head else [(self.act_dim,)]
        self.params = nn.ParameterList(nn.Parameter(torch.empty(s)) for s in shapes)
        self._init(generator, init_log_std)
        scale = None if action_scale is None else np.broadcast_to(action_scale, (self.act_dim,))
        self.action_scale = None if scale is None else torch.tensor(scale, dtype=torch.float32)
        self._lane_scale = None if scale is None else _pad_cols(self.action_scale, self.lanes)

    @staticmethod
    def _linear(fan_in: int, fan_out: int) -> list[tuple[int, ...]]:
        return [(fan_out, fan_in), (fan_out,)]

    def _init(self, generator: torch.Generator | None, init_log_std: float) -> None:
        with torch.no_grad():
            for i, p in enumerate(self.params):
                if not self.std_head and i == len(self.params) - 1:
                    p.fill_(init_log_std)
                else:
                    fan_in = p.shape[1] if p.dim() == 2 else self.params[i - 1].shape[1]
                    bound = 1.0 / math.sqrt(fan_in)
                    nn.init.uniform_(p, -bound, bound, generator=generator)

    # ----------------------------------------------------------------- flat parameter vector
    @property
    def num_params(self) -> int:
        """n = number of scalar parameters."""
        return sum(p.numel() for p in self.params)

    def get_flat(self) -> np.ndarray:
        """θ as a float64 vector of length ``num_params`` (parameters in registration order)."""
        return torch.cat([p.detach().reshape(-1) for p in self.params]).double().numpy()

    def set_flat(self, vec: np.ndarray) -> None:
        """Load θ from a float64 vector of length ``num_params``."""
        vec = np.asarray(vec, dtype=np.float64)
        if vec.shape != (self.num_params,):
            raise ValueError(
                f"parameter vector: expected shape ({self.num_params},), got {vec.shape}"
            )
        with torch.no_grad():
            for p, v in zip(self.params, self.unflatten(torch.from_numpy(vec)), strict=True):
                p.copy_(v)

    def unflatten(self, flat: Tensor) -> list[Tensor]:
        """Split ``flat`` of shape (..., n) into per-parameter tensors of shape (..., *shape)."""
        lead, out, start = flat.shape[:-1], [], 0
        for p in self.params:
            out.append(flat[..., start : start + p.numel()].reshape(*lead, *p.shape))
            start += p.numel()
        return out

    # ----------------------------------------------------------------------- distribution
    def _mean_std(self, p: Sequence[Tensor], x: Tensor, linear) -> tuple[Tensor, Tensor]:
        """μ(x), σ(x) with layer parameters ``p`` and a ``linear(x, W, b)`` implementation."""
        h, k = x, len(self.hidden)
        for i in range(k):
            h = torch.tanh(linear(h, p[2 * i], p[2 * i + 1]))
        mean = linear(h, p[2 * k], p[2 * k + 1])
        if self.std_head:
            return mean, F.softplus(linear(h, p[2 * k + 2], p[2 * k + 3]))
        return mean, torch.exp(p[2 * k + 2]).expand_as(mean)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """(μ(s), σ(s)) for observations of shape (..., d_s) at the module's own parameters."""
        return self._mean_std(list(self.params), obs, F.linear)

    def log_prob(self, obs: Tensor, u: Tensor) -> Tensor:
        """log π(u | s) = Σ_j [ -(u_j-μ_j)²/(2σ_j²) - log σ_j - ½ log 2π ], shape (...)."""
        return _gaussian_log_prob(u, *self(obs))

    def action(self, u: Tensor) -> Tensor:
        """Environment action a = c·tanh(u), or a = u for an unsquashed policy."""
        return u if self.action_scale is None else self.action_scale * torch.tanh(u)

    # ------------------------------------------------------- many parameter vectors at once
    def log_prob_batched(self, flat: Tensor, which: Tensor, obs: Tensor, u: Tensor) -> Tensor:
        """log π_{θ_{which[b]}}(u[b,t] | obs[b,t]) for a (P, n) stack ``flat`` of parameters.

        Args:
            flat: (P, n) parameter vectors (may require grad: the gradient of a sum over rows
                lands on the row's own parameter vector).
            which: (B,) long, index into ``flat`` of each trajectory.
            obs: (B, T, d_s); u: (B, T, d_a).

        Returns:
            (B, T) log-probabilities, computed with one batched matmul per layer.
        """
        return self.log_prob_per_point(self.unflatten(flat), which, obs, u)

    def log_prob_per_point(
        self, params: Sequence[Tensor], which: Tensor, obs: Tensor, u: Tensor
    ) -> Tensor:
        """:meth:`log_prob_batched` from per-parameter stacks ``params[k]`` of shape
        (P, *shape_k) (``unflatten`` of the (P, n) stack, or leaves of their own).

        Trajectory b uses row which[b] of each stack, always gathered by indexing: a broadcast
        view for P = 1 sums the backward in another order (gradients differ in the last float32
        bits from earlier releases) and saved nothing measurable (Humanoid, 20 trajectories of
        34 steps: 3.0 vs 2.8 ms per backward, min of 7, next to ~200 ms of rollout).
        """
        rows = [p[which] for p in params]
        mean, std = self._mean_std([_expand_vector(p) for p in rows], obs, _linear_bmm)
        return _gaussian_log_prob(u, mean, std)

    def rollout_params(self, flat: Tensor) -> list[Tensor]:
        """Parameters of :meth:`rollout_step` per point: [W_1, b_1, …, W_k, b_k, W_h, b_h(, log σ)].

        Every layer output is zero-padded to a multiple of 32 lanes (L = padded d_a) and the
        next layer's input columns accordingly. The μ and σ heads are fused into one head
        W_h = [W_μ; W_σ] of 2L rows, so a step costs one product per layer.
        """
        p, k, lanes = self.unflatten(flat.float()), len(self.hidden), self.lanes
        fan_ins = [self.obs_dim, *(_pad_to_lanes(h) for h in self.hidden)]
        out = []
        for layer in range(k + (2 if self.std_head else 1)):
            w, b = p[2 * layer], p[2 * layer + 1]
            rows, fan_in = _pad_to_lanes(w.shape[1]), fan_ins[min(layer, k)]
            out += [F.pad(w, (0, fan_in - w.shape[2], 0, rows - w.shape[1])), _pad_cols(b, rows)]
        if self.std_head:  # fuse [W_μ; W_σ] and [b_μ; b_σ]
            return [*out[: 2 * k], torch.cat(out[2 * k :: 2], 1), torch.cat(out[2 * k + 1 :: 2], 1)]
        return [*out, _pad_cols(p[-1], lanes)]

    @property
    def lanes(self) -> int:
        """L: width of the padded action columns of :meth:`rollout_step`."""
        return _pad_to_lanes(self.act_dim)

    def rollout_step(
        self, params: Sequence[Tensor], obs: Tensor, noise: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Sample one step for a batch: u = μ(s) + σ(s)·ε, a = c·tanh(u) (no grad, padded).

        Args:
            params: per-row parameters, ``rollout_params(...)[k][which]`` (leading dim B, or 1
                to broadcast one point to all rows).
            obs: (B, d_s) float32; noise: (B, L) float32 standard normals (zero beyond d_a).

        Returns:
            (u, a), both (B, L); columns beyond d_a are padding.

        Why so: a matmul's rounding depends on the batch size (BLAS picks kernels by shape),
        and so do the scalar tails of element-wise kernels. Computing W·x as an element-wise
        product plus a sum over the contiguous last axis, on rows padded to full SIMD vectors,
        makes each row's bits independent of the batch: the value of gradient (agent, index)
        then never depends on which other trajectories were rolled out with it.
        """
        h, k, lanes = obs, len(self.hidden), self.lanes
        for i in range(k):
            h = torch.tanh(_linear_rowwise(h, params[2 * i], params[2 * i + 1]))
        head = _linear_rowwise(h, params[2 * k], params[2 * k + 1])
        if self.std_head:
            mean, std = head[:, :lanes], F.softplus(head[:, lanes:])
        else:
            mean, std = head, torch.exp(params[2 * k + 2])
        u = mean + std * noise
        if self._lane_scale is None:
            return u, u
        return u, self._lane_scale * torch.tanh(u)


def _linear_bmm(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """x (B,T,in) @ w (B,out,in)ᵀ + b (B,1,out)."""
    return torch.baddbmm(b, x, w.transpose(1, 2))


def _linear_rowwise(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """(W x + b) per row: x (B,in), w (B,out,in), b (B,out); batch-size-independent rounding."""
    return (x[:, None, :] * w).sum(-1) + b


def _expand_vector(p: Tensor) -> Tensor:
    """Per-trajectory vector parameters (B, k) become (B, 1, k) to broadcast over time."""
    return p[:, None, :] if p.dim() == 2 else p


def _pad_cols(v: Tensor, width: int) -> Tensor:
    return F.pad(v, (0, width - v.shape[-1]))


def _gaussian_log_prob(u: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    z = (u - mean) / std
    return (-0.5 * z * z - torch.log(std) - _LOG_SQRT_2PI).sum(-1)


class GaussianMLPPolicy(GaussianPolicy):
    """The paper's policy: tanh MLP trunk (64, 64), μ head, Softplus σ head, a = c·tanh(u)."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        hidden: Sequence[int] = (64, 64),
        action_scale: float | Sequence[float] | np.ndarray | None = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(
            obs_dim,
            act_dim,
            hidden=hidden,
            std_head=True,
            action_scale=action_scale,
            generator=generator,
        )


class LinearGaussianPolicy(GaussianPolicy):
    """μ = W s + b, σ = exp(log_std) state independent; a = u unless a scale is given."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        action_scale: float | Sequence[float] | np.ndarray | None = None,
        generator: torch.Generator | None = None,
        init_log_std: float = 0.0,
    ) -> None:
        super().__init__(
            obs_dim,
            act_dim,
            hidden=(),
            std_head=False,
            action_scale=action_scale,
            generator=generator,
            init_log_std=init_log_std,
        )


POLICIES = ("mlp", "linear")


def make_policy(
    kind: str,
    obs_dim: int,
    act_dim: int,
    *,
    hidden: Sequence[int] = (64, 64),
    action_scale: float | Sequence[float] | np.ndarray | None = None,
    generator: torch.Generator | None = None,
) -> GaussianPolicy:
    """Build a policy by name: ``"mlp"`` (:class:`GaussianMLPPolicy`) or ``"linear"``."""
    if kind == "mlp":
        return GaussianMLPPolicy(
            obs_dim, act_dim, hidden=hidden, action_scale=action_scale, generator=generator
        )
    if kind == "linear":
        return LinearGaussianPolicy(
            obs_dim, act_dim, action_scale=action_scale, generator=generator
        )
    raise ValueError(f"policy: unknown kind {kind!r}; valid: {', '.join(POLICIES)}")
