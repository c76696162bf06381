"""ENAS on the NAS-Bench-201 supernet: an LSTM controller trained by REINFORCE.

ENAS (Pham et al., "Efficient Neural Architecture Search via Parameter
Sharing", ICML 2018), in the setting of NAS-Bench-201's ENAS baseline (Dong &
Yang, ICLR 2020, and their xautodl code):

- **Shared weights.** The supernet's weights (:class:`~proxydata.nas.SearchNetwork`'s
  cells, BatchNorm with batch statistics as for every algorithm here) are
  trained on architectures sampled from the controller: one sample per
  training batch, only its operations run (:meth:`EnasNetwork.forward`).
- **Controller** (:class:`EnasController`). An LSTM (hidden size 32, 2 layers)
  emits one operation per edge in :data:`~proxydata.nas.EDGES` order. Step
  ``e`` reads a learned start vector (``e = 0``) or the embedding of the
  previous edge's operation, and its output ``h_e`` gives the logits
  ``l_e = c · tanh(W h_e / T)`` (tanh constant ``c = 2.5``, temperature
  ``T = 5``); the operation is drawn from ``softmax(l_e)``. Initialisation as
  xautodl's controller (``init="xautodl"``, the default): the start vector, the
  first LSTM layer's input and hidden weights, the embedding and the prediction
  weight ``W`` are drawn ``U(-0.1, 0.1)``; every other parameter (the LSTM's
  biases and further layers, the prediction bias) keeps PyTorch's default
  ``U(-1/sqrt(32), 1/sqrt(32))``. ``init="enas"`` draws every parameter
  ``U(-0.1, 0.1)``, as the original ENAS code initialises every controller
  variable (kept to compare with earlier runs).
- **REINFORCE** (:class:`Reinforce`). For an architecture ``a`` sampled on a
  validation batch, the reward is ``R = acc(a) + lambda_H · H(a)`` with
  ``acc`` the batch's accuracy under the shared weights (no gradient), ``H``
  the sum over edges of the policy's entropy (entropy bonus
  ``lambda_H = 1e-4``), and the moving-average baseline
  ``b <- b - (1 - d) · (b - R)`` (``d = 0.99``; ``b`` starts at the first
  reward). The loss ``-(R - b) · log pi(a)`` (``R - b`` a number) is averaged
  over ``aggregate = 20`` samples, the gradient clipped at norm 5 and applied by
  Adam (learning rate 1e-3, betas (0, 0.999), eps 1e-3).
- **Samples per validation batch** (``samples_per_batch``, default 1). The
  architecture step draws this many cells and scores each on the same
  validation batch; each is one REINFORCE sample. xautodl draws 1,000 controller
  samples per epoch (50 updates of 20) whatever the data size; one sample per
  batch gives only ``n_batches / 20`` updates an epoch, about 1.6 on a
  2,000-image split at batch 64, and the controller hardly moves from its
  initial policy in a CPU-scale search. Several samples per batch (and, if
  needed, a shorter ``aggregate``) restore the number of updates at the cost of
  ``samples_per_batch`` forward passes without gradient per batch (the pruner
  observes the first sample's).
- **Derived cell.** :meth:`EnasNetwork.genotype` is the controller's greedy
  decoding: at every edge the most likely operation given the previous greedy
  choices. The network's ``arch_parameters`` mirror the log-probabilities of that
  decoding (refreshed after every controller update), so ``SearchResult.alphas``
  and ``Genotype.from_alphas`` mean the same as for the other algorithms.

In the loop (:func:`~proxydata.nas.search`, ``algo="enas"``) the
architecture step of every training batch is one controller sample scored on
the paired validation batch, and the weight step trains the shared weights on an
architecture sampled afresh; ``pruner.observe`` sees both forward passes. Where
this differs from NAS-Bench-201's ENAS script:

- xautodl trains the weights for a whole epoch, then draws 1,000 controller
  samples (50 updates of 20) from the validation loader; here the samples are
  paired with the training batches, so an epoch of ``n`` training batches makes
  ``n · samples_per_batch / aggregate`` controller updates (a partial aggregate
  carries over to the next epoch and is dropped at the end of the search);
- xautodl computes every step's baseline from the previous epoch's final value
  and lets the entropy bonus's gradient reach the controller; here the baseline
  moves after every sample and the reward is a number (as the original ENAS);
- xautodl tracks BatchNorm running statistics and scores samples in eval mode;
  here the search cells use batch statistics throughout;
- xautodl's final cell is the best of 100 samples, each scored on one
  validation batch; the greedy decoding needs no extra forward passes (which a
  pruner would otherwise have to observe);
- the weight optimiser is the loop's (shared by all algorithms); xautodl's ENAS
  config uses SGD with learning rate 0.05 → 5e-4, weight decay 2.5e-4,
  Nesterov, batch 128 (pass ``w_lr=0.05, w_lr_min=5e-4, w_weight_decay=2.5e-4``
  to :func:`~proxydata.nas.search` to match it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_choice, check_float, check_fraction, check_int, show
from ..exceptions import ProxydataTypeError, ProxydataValueError
from .spaces.nb201.genotype import EDGES, NB201_OPS, Genotype
from .spaces.nb201.network import seeded_init
from .spaces.nb201.search_space import SearchCell, SearchNetwork

__all__ = [
    "ControllerSample",
    "EnasArchStep",
    "EnasController",
    "EnasNetwork",
    "Reinforce",
    "ReinforceSettings",
]


@dataclass(frozen=True)
class ControllerSample:
    """One architecture drawn by :meth:`EnasController.sample`.

    Attributes
    ----------
    index : tuple of int
        The operation of every edge (indices into :data:`~proxydata.nas.NB201_OPS`,
        :data:`~proxydata.nas.EDGES` order).
    log_prob : tensor (scalar)
        ``log pi(a)``, the sum over edges of the log-probabilities of the drawn
        operations (differentiable with respect to the controller's parameters).
    entropy : tensor (scalar)
        The sum over edges of the policy's entropy at each step (differentiable).
    """

    index: tuple[int, ...]
    log_prob: torch.Tensor
    entropy: torch.Tensor

    @property
    def genotype(self) -> Genotype:
        """The sampled cell."""
        return Genotype(tuple(NB201_OPS[k] for k in self.index))


def _arch_index(arch: Any) -> tuple[int, ...]:
    """A cell as 6 operation indices: from a Genotype, a NAS-Bench-201 string or 6 indices."""
    if isinstance(arch, (Genotype, str)):
        genotype = arch if isinstance(arch, Genotype) else Genotype.parse(arch)
        return tuple(NB201_OPS.index(op) for op in genotype.ops)
    if not isinstance(arch, Sequence) or len(arch) != len(EDGES):
        raise ProxydataTypeError(
            f"arch must be a Genotype, a NAS-Bench-201 string or {len(EDGES)} operation indices, "
            f"got {show(arch)}"
        )
    out = []
    for k in arch:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= int(k) < len(NB201_OPS):
            raise ProxydataValueError(
                f"arch must hold operation indices in [0, {len(NB201_OPS)}), got {show(arch)}"
            )
        out.append(int(k))
    return tuple(out)


class EnasController(nn.Module):
    """ENAS's LSTM controller over the 6 edges of a NAS-Bench-201 cell (see the module notes).

    Parameters
    ----------
    hidden_size : int
        LSTM hidden size and embedding size (NAS-Bench-201's ENAS: 32).
    num_layers : int
        LSTM layers (2).
    tanh_constant : float > 0
        ``c`` of the logits ``c · tanh(W h / T)`` (2.5).
    temperature : float > 0
        ``T`` (5.0).
    init : {"xautodl", "enas"}
        ``"xautodl"`` (default): the start vector, the first LSTM layer's weights,
        the embedding and the prediction weight ``U(-0.1, 0.1)``, the rest
        PyTorch's defaults, as NAS-Bench-201's ENAS controller. ``"enas"``: every
        parameter ``U(-0.1, 0.1)``, as the original ENAS code and this class's
        earlier releases; it starts the LSTM's biases and second layer near zero.
    seed : int, optional
        Seed of the initialisation (global RNG untouched); None uses the global RNG.
    """

    #: The initialisations ``init`` names.
    INITS = ("xautodl", "enas")

    def __init__(
        self,
        hidden_size: int = 32,
        num_layers: int = 2,
        tanh_constant: float = 2.5,
        temperature: float = 5.0,
        *,
        init: str = "xautodl",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.hidden_size = check_int(hidden_size, "hidden_size", minimum=1)
        self.num_layers = check_int(num_layers, "num_layers", minimum=1)
        self.tanh_constant = check_float(tanh_constant, "tanh_constant", strictly_positive=True)
        self.temperature = check_float(temperature, "temperature", strictly_positive=True)
        self.init = check_choice(init, "init", self.INITS)
        self.num_edges, self.num_ops = len(EDGES), len(NB201_OPS)
        with seeded_init(seed):
            self.start = nn.Parameter(torch.empty(1, 1, self.hidden_size))
            self.lstm = nn.LSTM(self.hidden_size, self.hidden_size, self.num_layers)
            self.embedding = nn.Embedding(self.num_ops, self.hidden_size)
            self.head = nn.Linear(self.hidden_size, self.num_ops)
            if self.init == "enas":
                uniform = list(self.parameters())
            else:  # xautodl: these five, the rest keep PyTorch's defaults
                lstm = self.lstm
                uniform = [self.start, lstm.weight_ih_l0, lstm.weight_hh_l0, self.embedding.weight,
                           self.head.weight]  # fmt: skip
            for p in uniform:
                nn.init.uniform_(p, -0.1, 0.1)

    def _log_probs(self, output: torch.Tensor) -> torch.Tensor:
        """``log_softmax(c · tanh(W h / T))`` of one LSTM output ``(1, 1, hidden)`` → ``(num_ops,)``."""
        logits = self.tanh_constant * torch.tanh(self.head(output.view(-1)) / self.temperature)
        return F.log_softmax(logits, dim=-1)

    def sample(self, generator: torch.Generator | None = None) -> ControllerSample:
        """Draw one architecture (``generator`` seeds the draws; one host sync at the end)."""
        inputs: torch.Tensor = self.start
        state: Any = None
        log_probs, entropies, chosen = [], [], []
        for _ in range(self.num_edges):
            output, state = self.lstm(inputs, state)
            log_p = self._log_probs(output)
            k = torch.multinomial(log_p.detach().exp(), 1, generator=generator)
            log_probs.append(log_p.gather(0, k))
            entropies.append(-(log_p.exp() * log_p).sum().view(1))
            chosen.append(k)
            inputs = self.embedding(k).view(1, 1, -1)
        index = tuple(int(k) for k in torch.cat(chosen).tolist())
        return ControllerSample(index, torch.cat(log_probs).sum(), torch.cat(entropies).sum())

    def log_prob(self, arch: Any) -> torch.Tensor:
        """``log pi(a)`` of a given cell (a Genotype, a NAS-Bench-201 string or 6 indices), differentiable."""
        index = _arch_index(arch)
        inputs: torch.Tensor = self.start
        state: Any = None
        total = self.start.new_zeros(())
        for k in index:
            output, state = self.lstm(inputs, state)
            total = total + self._log_probs(output)[k]
            inputs = self.embedding.weight[k].view(1, 1, -1)
        return total

    @torch.no_grad()
    def sampling_entropy(self, samples: int = 64, seed: int = 0) -> float:
        """Mean over ``samples`` draws of a sample's policy entropy (nats, summed over the 6 edges).

        ``H = (1 / M) Σ_m Σ_e H(pi(· | a_<e^(m)))``, a Monte-Carlo estimate of the
        entropy of the whole sampling distribution; ``6 · ln 5 ≈ 9.66`` for a uniform
        policy, 0 for a deterministic one. The draws use their own generator
        (``seed``); the global RNG is untouched.
        """
        check_int(samples, "samples", minimum=1)
        g = torch.Generator(device=self.start.device).manual_seed(check_int(seed, "seed", minimum=0))
        return float(sum(self.sample(g).entropy.item() for _ in range(samples)) / samples)

    @torch.no_grad()
    def greedy(self) -> tuple[torch.Tensor, tuple[int, ...]]:
        """The greedy decoding: ``(log-probabilities (6, 5) along it, the chosen operations)``.

        Row ``e`` is the policy at edge ``e`` given the greedy choices of the
        edges before it; each choice is the row's first maximum.
        """
        inputs: torch.Tensor = self.start
        state: Any = None
        rows, chosen = [], []
        for _ in range(self.num_edges):
            output, state = self.lstm(inputs, state)
            log_p = self._log_probs(output)
            k = torch.argmax(log_p).view(1)
            rows.append(log_p)
            chosen.append(k)
            inputs = self.embedding(k).view(1, 1, -1)
        return torch.stack(rows), tuple(int(k) for k in torch.cat(chosen).tolist())


@dataclass(frozen=True)
class ReinforceSettings:
    """The controller's REINFORCE settings (defaults: NAS-Bench-201's ENAS script and config).

    Attributes
    ----------
    entropy_weight : float >= 0
        ``lambda_H`` of the reward's entropy bonus (1e-4).
    baseline_decay : float in [0, 1)
        ``d`` of the moving-average baseline (0.99).
    lr : float > 0
        Adam's learning rate (1e-3).
    betas : tuple of two floats in [0, 1)
        Adam's betas ((0, 0.999)).
    eps : float > 0
        Adam's epsilon (1e-3).
    grad_clip : float >= 0
        Max gradient norm of an update (5; 0 disables).
    aggregate : int >= 1
        Samples whose averaged gradient makes one update (20).
    samples_per_batch : int >= 1
        Cells drawn and scored on each validation batch, each one sample (1; see
        the module notes: more makes the controller learn at a small scale).
    """

    entropy_weight: float = 1e-4
    baseline_decay: float = 0.99
    lr: float = 1e-3
    betas: tuple[float, float] = (0.0, 0.999)
    eps: float = 1e-3
    grad_clip: float = 5.0
    aggregate: int = 20
    samples_per_batch: int = 1

    def __post_init__(self) -> None:
        check_float(self.entropy_weight, "entropy_weight", minimum=0.0)
        check_fraction(self.baseline_decay, "baseline_decay", high_open=True)
        check_float(self.lr, "lr", strictly_positive=True)
        if not isinstance(self.betas, Sequence) or isinstance(self.betas, str) or len(self.betas) != 2:
            raise ProxydataTypeError(f"betas must be a pair of floats in [0, 1), got {show(self.betas)}")
        for b in self.betas:
            check_fraction(b, "betas", high_open=True)
        check_float(self.eps, "eps", strictly_positive=True)
        check_float(self.grad_clip, "grad_clip", minimum=0.0)
        check_int(self.aggregate, "aggregate", minimum=1)
        check_int(self.samples_per_batch, "samples_per_batch", minimum=1)
        object.__setattr__(self, "betas", (float(self.betas[0]), float(self.betas[1])))


class Reinforce:
    """REINFORCE with a moving-average baseline and an entropy bonus (see the module notes).

    Per sample ``a`` with score ``s`` (the validation accuracy):
    ``R = s + lambda_H · H(a)``, ``b <- b - (1 - d)(b - R)`` (``b`` starts at the
    first ``R``), and the gradient of ``-(R - b) · log pi(a) / aggregate`` is
    accumulated; every ``aggregate`` samples the gradient is clipped and Adam
    steps. A positive advantage ``R - b`` makes ``a`` more likely.

    Parameters
    ----------
    controller : EnasController
    settings : ReinforceSettings
    """

    def __init__(self, controller: EnasController, settings: ReinforceSettings) -> None:
        if not isinstance(controller, EnasController):
            raise ProxydataTypeError(f"controller must be an EnasController, got {type(controller).__name__}")
        if not isinstance(settings, ReinforceSettings):
            raise ProxydataTypeError(f"settings must be ReinforceSettings, got {type(settings).__name__}")
        self.controller = controller
        self.settings = settings
        self.params = list(controller.parameters())
        self.optimizer = torch.optim.Adam(self.params, lr=settings.lr, betas=settings.betas, eps=settings.eps)
        self.optimizer.zero_grad(set_to_none=True)
        self.baseline: torch.Tensor | None = None
        self.samples = 0
        self.updates = 0

    def update(self, sample: ControllerSample, score: torch.Tensor | float) -> bool:
        """Accumulate one sample's gradient; step every ``aggregate`` samples. Return whether it stepped."""
        s = self.settings
        log_prob = sample.log_prob
        score_t = torch.as_tensor(score, dtype=log_prob.dtype, device=log_prob.device).detach()
        reward = score_t + s.entropy_weight * sample.entropy.detach()
        if self.baseline is None:
            self.baseline = reward
        else:
            self.baseline = self.baseline - (1.0 - s.baseline_decay) * (self.baseline - reward)
        loss = -(reward - self.baseline) * log_prob / s.aggregate
        loss.backward()
        self.samples += 1
        if self.samples % s.aggregate:
            return False
        if s.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, s.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.updates += 1
        return True


class EnasNetwork(SearchNetwork):
    """The NAS-Bench-201 supernet of ENAS (``algo="enas"``): shared weights and a controller.

    :class:`~proxydata.nas.SearchNetwork`'s skeleton and cells (same weights
    under the same seed) with an :class:`EnasController` (``controller``) and
    its :class:`ReinforceSettings` (``reinforce``). See the module notes.

    Parameters
    ----------
    C, N, num_classes, in_channels : int
        As :class:`~proxydata.nas.SearchNetwork`.
    controller : EnasController, optional
        Default: ``EnasController(init=controller_init)`` seeded from ``seed``.
    reinforce : ReinforceSettings or dict, optional
        Default: ``ReinforceSettings()``; a dict gives its fields
        (``{"samples_per_batch": 8, "aggregate": 10}``), which a JSON record can store.
    controller_init : {"xautodl", "enas"}
        ``init`` of the default controller (see :class:`EnasController`).
    seed : int, optional
        Seed of the initialisation (global RNG untouched).
    """

    modes = ("enas",)

    def __init__(
        self,
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        *,
        controller: EnasController | None = None,
        reinforce: ReinforceSettings | dict[str, Any] | None = None,
        controller_init: str = "xautodl",
        seed: int | None = None,
    ) -> None:
        if controller is not None and not isinstance(controller, EnasController):
            raise ProxydataTypeError(f"controller must be an EnasController, got {type(controller).__name__}")
        if isinstance(reinforce, dict):
            known = {f.name for f in fields(ReinforceSettings)}
            unknown = sorted(set(reinforce) - known)
            if unknown:
                raise ProxydataValueError(
                    f"reinforce has keys {unknown} that ReinforceSettings does not know "
                    f"(it has {sorted(known)})"
                )
            reinforce = ReinforceSettings(**reinforce)
        if reinforce is not None and not isinstance(reinforce, ReinforceSettings):
            raise ProxydataTypeError(
                f"reinforce must be ReinforceSettings or a dict of its fields, got {type(reinforce).__name__}"
            )
        check_choice(controller_init, "controller_init", EnasController.INITS)
        super().__init__(C, N, num_classes, in_channels, algo="enas", seed=seed)
        if controller is None:
            # its own stream: the same seed must not replay the supernet's draws
            sub = None if seed is None else int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
            controller = EnasController(init=controller_init, seed=sub)
        self.controller = controller
        self.reinforce = ReinforceSettings() if reinforce is None else reinforce
        self.sync_arch_parameters()

    # -- parameters -------------------------------------------------------------------
    def named_weight_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """``(name, parameter)`` of the shared weights (not ``arch_parameters``, not the controller)."""
        return [
            (n, p)
            for n, p in self.named_parameters()
            if n != "arch_parameters" and not n.startswith("controller.")
        ]

    def arch_parameter_list(self) -> list[nn.Parameter]:
        """The controller's parameters (trained by :class:`Reinforce`, not by a gradient of the loss)."""
        return list(self.controller.parameters())

    @torch.no_grad()
    def sync_arch_parameters(self) -> None:
        """Set ``arch_parameters`` to the log-probabilities of the controller's greedy decoding."""
        log_probs, _ = self.controller.greedy()
        self.arch_parameters.copy_(log_probs.to(self.arch_parameters))

    def arch_weights(self) -> np.ndarray:
        """The greedy decoding's per-edge probabilities, as a (6, 5) float64 array."""
        return self.controller.greedy()[0].double().exp().cpu().numpy()

    def genotype(self) -> Genotype:
        """The controller's greedy decoding (see the module notes)."""
        return Genotype.from_alphas(self.controller.greedy()[0])

    # -- forward ------------------------------------------------------------------------
    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None, *, arch: Any = None
    ) -> torch.Tensor:
        """Logits of a batch under ``arch``, or under a sample of the controller (drawn with ``generator``).

        ``arch``: a Genotype, a NAS-Bench-201 string or 6 operation indices. Only
        the chosen operations run; the controller gets no gradient from here.
        """
        if arch is None:
            with torch.no_grad():
                index = self.controller.sample(generator).index
        else:
            index = _arch_index(arch)
        hardwts = F.one_hot(torch.tensor(index, device=x.device), len(NB201_OPS)).to(x.dtype)
        others = torch.zeros(len(EDGES), dtype=x.dtype, device=x.device)
        feature = self.stem(x)
        for cell in self.cells:
            if isinstance(cell, SearchCell):
                feature = cell.forward_gdas(feature, hardwts, list(index), others)
            else:
                feature = cell(feature)
        feature = self.lastact(feature)
        return self.classifier(feature.mean(dim=(2, 3)))


class EnasArchStep:
    """The architecture step of the search loop for ENAS: controller samples on each validation batch.

    ``step(xv, yv)`` draws ``a`` (with ``generator``; ``samples_per_batch`` times),
    computes the batch's logits under ``a`` without gradients, updates the controller with the batch accuracy
    as score (:class:`Reinforce`), refreshes the network's ``arch_parameters``
    after every update, and returns the detached logits and loss.
    """

    def __init__(self, network: EnasNetwork, generator: torch.Generator | None = None) -> None:
        if not isinstance(network, EnasNetwork):
            raise ProxydataTypeError(f"network must be an EnasNetwork, got {type(network).__name__}")
        self.network = network
        self.generator = generator
        self.reinforce = Reinforce(network.controller, network.reinforce)

    def start_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        """Nothing to schedule: ENAS has no per-epoch setting (the search loop's hook)."""
        return {}

    def update(
        self, x: torch.Tensor, y: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor, lr: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The search loop's hook: :meth:`step` on the validation batch (the training batch is not used)."""
        return self.step(xv, yv)

    def step(self, xv: torch.Tensor, yv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``samples_per_batch`` controller samples scored on ``(xv, yv)``; the first's ``(logits, loss)``.

        Each sample is one REINFORCE sample (its score the batch accuracy under
        it); ``arch_parameters`` are refreshed after every controller update.
        The returned logits and loss are detached.
        """
        first: tuple[torch.Tensor, torch.Tensor] | None = None
        for _ in range(self.network.reinforce.samples_per_batch):
            sample = self.network.controller.sample(self.generator)
            with torch.no_grad():
                logits = self.network(xv, arch=sample.index)
                loss = F.cross_entropy(logits, yv)
                accuracy = (logits.argmax(1) == yv).double().mean()
            if first is None:
                first = (logits, loss)
            if self.reinforce.update(sample, accuracy):
                self.network.sync_arch_parameters()
        assert first is not None
        return first
