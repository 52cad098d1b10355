"""A counted n-gram mixed into a trained network's predictions (TrainConfig.ngram_mix).

A network generalises; an interpolated Kneser-Ney n-gram counted on the same training names
remembers the character sequences it saw. They err in different places, so a mixture of the
two scores better than either. The mixture here is log-linear (a product of experts):

    log p(next | context) = a * network logits + b * log p_ngram - log Z(context),

with the two weights (a, b) that minimise the val NLL (a convex problem). On names.txt it
beat the linear mixture w * p_network + (1 - w) * p_ngram of the same two models (the classic
interpolation of a neural language model with a Kneser-Ney one, Mikolov et al. 2011) by about
a few thousandths of a nat for each neural plugin (docs/plugins.md, "The n-gram mixture").

The network is trained alone, as before; the n-gram is counted (a fraction of a second) and
(a, b) fitted after it. The mixture is an ordinary network: its logits are a * logits + b *
log p_ngram, so scoring, sampling and export take it as they take any other. It has the inner
network's step form when that has one, the state then carrying the n-gram's row for the history.
"""

from __future__ import annotations

import torch

from .errors import NamegenError
from .kneser_ney import NgramNetwork, check_stored_order, count, take_stored_rows
from .sampling import has_step_form
from .train import Examples, pair_logits, sequence_logits

# (a, b) without validation names to fit them on (on the training names the n-gram is
# overconfident): the geometric mean; names.txt's val names give about (0.57, 0.42).
DEFAULT_WEIGHTS = (0.5, 0.5)
RIDGE = 1e-4  # moves names.txt's weights by under 1e-3


class NgramMixture(torch.nn.Module):
    """Logits a * network(context) + b * ngram(context), (a, b) = `weights`."""

    STEPS = False  # whether the n-gram keeps a transition table, for a step form

    def __init__(self, network: torch.nn.Module, vocab_size: int, order: int):
        super().__init__()
        self.network, self.ngram = network, NgramNetwork(vocab_size, order, steps=self.STEPS)
        self.register_buffer("weights", torch.tensor(DEFAULT_WEIGHTS))  # fitted by fit_mixture
        self.block_size = max(network.block_size, self.ngram.block_size)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # before the n-gram's own check, which would name its order, not the config's ngram_mix
        check_stored_order(state_dict, prefix + "ngram.", self.ngram.order, "ngram_mix", self.ngram.vocab_size)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def mix(self, logits: torch.Tensor, ngram_log_probs: torch.Tensor) -> torch.Tensor:
        return self.weights[0] * logits + self.weights[1] * ngram_log_probs

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.mix(self.network(context[:, -self.network.block_size :]), self.ngram(context[:, -self.ngram.block_size :]))

    def forward_sequence(self, stream: torch.Tensor) -> torch.Tensor:
        bs, inner = self.block_size, self.ngram.block_size
        windows = stream[:, bs - inner :].unfold(1, inner, 1)  # the n-gram's window of each position
        ngram = self.ngram(windows.flatten(0, 1)).unflatten(0, windows.shape[:2])
        return self.mix(sequence_logits(self.network, stream[:, bs - self.network.block_size :]), ngram)


class SteppedNgramMixture(NgramMixture):
    """The mixture of a network with a step form. The state is the network's, then the n-gram's
    row for the history (as a float, like every state tensor: exact below 2^24 rows): a step
    moves it on by one lookup in the n-gram's transition table, where `forward` walks the trie
    for every window (5 lookups and their tests for a 6-gram). The table is the n-gram's, rebuilt
    with its other tables (an ONNX export rebuilds it in the graph); a checkpoint of format 2
    stores it here, as `transitions`."""

    STEPS = True

    def refresh(self) -> None:
        """Check, after counting, that the step form's state can hold every row of the n-gram."""
        if len(self.ngram.log_probs) >= 2**24:  # a float32 state holds the row exactly below that
            raise NamegenError(f"the mixed-in {self.ngram.order}-gram has {len(self.ngram.log_probs):,} contexts, too many for "
                               f"the step form (at most {2**24 - 1:,}); use a lower ngram_mix")

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if prefix + "transitions" in state_dict:  # format 2: the table stored
            self.register_buffer("transitions", torch.zeros(0, self.ngram.vocab_size, dtype=torch.int32))
            take_stored_rows(self, state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def initial_state(self) -> list[torch.Tensor]:
        return [*self.network.initial_state(), self.ngram.log_probs.new_zeros(1, 1)]  # row 0: the empty context

    def step(self, token: torch.Tensor, state: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        logits, inner = self.network.step(token, state[:-1])
        log_probs, transitions = self.ngram.step_tables()
        if "transitions" in self._buffers:  # format 2
            transitions = self.transitions
        row = transitions.reshape(-1).index_select(0, state[-1][:, 0].long() * self.ngram.vocab_size + token).long()
        return self.mix(logits, log_probs.index_select(0, row)), [*inner, row[:, None].to(state[-1].dtype)]


def around(network: torch.nn.Module, vocab_size: int, order: int) -> NgramMixture:
    """A mixture around `network` with its n-gram not yet counted and the default weights."""
    return (SteppedNgramMixture if has_step_form(network) else NgramMixture)(network, vocab_size, order)


@torch.no_grad()
def fit_mixture(mixture: NgramMixture, train: Examples, val: Examples | None) -> dict:
    """Count the n-gram of `mixture` (around a trained network) on `train` and fit its weights on
    `val` (the default weights without val names). Contexts are the mixture's windows. Returns
    a summary for the checkpoint."""
    ngram, network = mixture.ngram, mixture.network
    counted = count(ngram, train.contexts, train.targets)
    if isinstance(mixture, SteppedNgramMixture):
        mixture.refresh()
    fitted_on = "none (default weights)"
    if val is not None and len(val.targets):
        mixture.weights.copy_(fit_weights(pair_logits(network, val).double(), pair_logits(ngram, val).double(), val.targets))
        fitted_on = "validation names"
    a, b = mixture.weights.tolist()
    return {"ngram_mix": {"order": ngram.order, "network_weight": round(a, 6), "ngram_weight": round(b, 6),
                          "ngram_contexts": counted["contexts"], "weights_fitted_on": fitted_on}}


def fit_weights(logits: torch.Tensor, ngram_log_probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The (a, b) that minimise the mean NLL of log_softmax(a * logits + b * ngram_log_probs) at
    `targets` (float64 [N, V], [N, V], int64 [N]), plus RIDGE * (a^2 + b^2): convex in (a, b),
    so L-BFGS from (1, 0), the network alone, finds the minimum."""
    weights = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights], max_iter=100, tolerance_grad=1e-10, line_search_fn="strong_wolfe")

    def nll() -> torch.Tensor:
        optimizer.zero_grad()
        loss = -(weights[0] * logits + weights[1] * ngram_log_probs).log_softmax(-1).gather(1, targets[:, None]).mean()
        loss = loss + RIDGE * weights.square().sum()  # keeps (a, b) finite where a model predicts the val names perfectly
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(nll)
    return weights.detach().float()
