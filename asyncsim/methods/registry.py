"""The built-in methods: each protocol's record, the optimizers, and the methods as
(protocol × optimizer).

The one place that names them. A protocol's record (:class:`~asyncsim.core.registry.ProtocolSpec`)
lives in its own module beside the code that runs it; this module registers the records and the
methods built from them. ``asyncsim list`` prints them; plug-ins add theirs with the same
functions (:mod:`asyncsim.core.registry`).
"""

from __future__ import annotations

from asyncsim.core.registry import (
    PROTOCOLS,
    register_method,
    register_optimizer,
)
from asyncsim.methods import (
    ad_psgd,
    amelie,
    asynchronous,
    fragile,
    m_synchronous,
    malenia,
    mindflayer,
    rennala,
    ringmaster,
    synchronized,
)
from asyncsim.methods.optimizers import (
    DelayAdaptiveParams,
    NIGTParams,
    SGDParams,
    delay_adaptive_sgd,
    nigt,
    sgd,
)

__all__: list[str] = []

_PROTOCOL_MODULES = (
    rennala,
    malenia,
    synchronized,
    asynchronous,
    ringmaster,
    mindflayer,
    m_synchronous,
    fragile,
    amelie,
    ad_psgd,
)
for _module in _PROTOCOL_MODULES:
    PROTOCOLS.add(_module.PROTOCOL.name, _module.PROTOCOL)

register_optimizer(
    "nigt",
    lambda p: nigt(p.lr, p.momentum, p.lr_decay),
    NIGTParams,
    "Alg. 1: normalized step with implicit gradient transport (α, η; optional decay T₀)",
)
register_optimizer(
    "sgd", lambda p: sgd(p.lr), SGDParams, "plain step θ + α g (SGD; vanilla policy gradient)"
)
register_optimizer(
    "delay_adaptive_sgd",
    lambda p: delay_adaptive_sgd(p.lr, p.rule, p.concurrency),
    DelayAdaptiveParams,
    "plain step with α shrinking with the gradient's delay (Mishchenko et al.; Koloskova et al.)",
)

register_method("rennala_nigt", "rennala", "nigt", "Alg. 1 + Alg. 2", "Rennala NIGT")
register_method("malenia_nigt", "malenia", "nigt", "Alg. 1 + Alg. 3", "Malenia NIGT")
register_method("synchronized_nigt", "synchronized", "nigt", "Alg. 1, one gradient per agent",
                "Synchronized NIGT")  # fmt: skip
register_method(
    "afedpg", "asynchronous", "nigt", "asynchronous greedy server (Lan et al. 2025)", "AFedPG"
)
register_method(
    "rennala_pg", "rennala", "sgd", "Alg. 2 with the plain step; Tyurin & Richtárik, NeurIPS 2023",
    "Rennala PG", {"rennala_sgd": "Rennala SGD"},
)  # fmt: skip
register_method(
    "malenia_pg", "malenia", "sgd", "Alg. 3 with the plain step; Tyurin & Richtárik, NeurIPS 2023",
    "Malenia PG", {"malenia_sgd": "Malenia SGD"},
)  # fmt: skip
register_method(
    "synchronized_pg", "synchronized", "sgd", "one gradient per agent, plain step",
    "Synchronized vanilla PG", {"minibatch_sgd": "Minibatch SGD"},
)  # fmt: skip
register_method(
    "asynchronous_pg", "asynchronous", "sgd", "one step per arriving gradient, plain step",
    "Asynchronous PG", {"asynchronous_sgd": "Asynchronous SGD"},
)  # fmt: skip
register_method(
    "delay_adaptive_asgd", "asynchronous", "delay_adaptive_sgd",
    "Koloskova, Stich, Jaggi; Mishchenko, Bach, Even, Woodworth; NeurIPS 2022",
    "Delay-adaptive ASGD",
)  # fmt: skip
register_method(
    "ringmaster_asgd", "ringmaster", "sgd", "Maranjyan, Tyurin, Richtárik, ICML 2025",
    "Ringmaster ASGD",
)  # fmt: skip
register_method(
    "mindflayer_sgd", "mindflayer", "sgd", "Maranjyan, Omar, Richtárik, arXiv 2410.04285",
    "MindFlayer SGD",
)  # fmt: skip
register_method(
    "m_synchronous_sgd", "m_synchronous", "sgd", "Begunov & Tyurin, arXiv 2602.03802",
    "m-Synchronous SGD",
)  # fmt: skip
register_method(
    "fragile_sgd", "fragile", "sgd",
    "Tyurin & Richtárik, NeurIPS 2024, Alg. 2-4 (agents on a graph)", "Fragile SGD",
)  # fmt: skip
register_method(
    "amelie_sgd", "amelie", "sgd",
    "Tyurin & Richtárik, NeurIPS 2024, Alg. 5-7 (agents on a graph)", "Amelie SGD",
)  # fmt: skip
register_method(
    "ad_psgd", "ad_psgd", "sgd", "Lian, Zhang, Zhang, Liu, ICML 2018, Alg. 1 (agents on a graph)",
    "AD-PSGD",
)  # fmt: skip
