"""The network contract: what a plugin's `build_network` returns, as typing Protocols.

A network is a torch module in one required form and up to two optional ones, each an
exact re-statement of the same function (the next token's logits given the name so far):

* `WindowNetwork` (required): `forward` on a window of the last `block_size` tokens;
* `SequenceNetwork` (optional): `forward_sequence`, every window of a whole stream at once,
  which the trainer and the scorer use when it is there (namegen.train.sequence_logits);
* `StepNetwork` (optional): `initial_state` and `step`, one token at a time with a carried
  state, which the samplers (torch and ONNX) use for the first block_size positions.

Token ids are int64; 0 is the boundary token, which pads a name on the left and ends it.
V is the vocabulary size (the boundary token included). Logits are float (float32 as trained;
the samplers run a float64 copy, `network.double()`, so every operation must work in both).

The Protocols are runtime_checkable, so `isinstance(network, StepNetwork)` tells whether a
network offers a form; that checks only that the members are there (and not None), not their
signatures: namegen.testing checks what they return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: namegen.runtime imports this (through sampling) without torch
    from torch import Tensor


@runtime_checkable
class WindowNetwork(Protocol):
    """The required form: the logits of the next token after a window of tokens."""

    block_size: int
    """How many tokens `forward` reads (an int >= 1): the window, left-padded with the boundary token."""

    def forward(self, context: Tensor) -> Tensor:
        """context int64 [B, block_size] -> logits float [B, V] of the token after each row's
        window. Rows are independent: a row's logits do not depend on the other rows."""
        ...

    def __call__(self, context: Tensor) -> Tensor:
        """`forward`, through torch.nn.Module's call."""
        ...


@runtime_checkable
class SequenceNetwork(WindowNetwork, Protocol):
    """The optional sequence form: every window of a stream in one call."""

    def forward_sequence(self, stream: Tensor) -> Tensor:
        """stream int64 [B, S] (S >= block_size) -> logits float [B, S - block_size + 1, V],
        where [:, j] equals forward(stream[:, j : j + block_size]) (within float rounding)."""
        ...


@runtime_checkable
class StepNetwork(WindowNetwork, Protocol):
    """The optional step form: one token a call, with a state carried between calls (an RNN's
    hidden state, a transformer's key/value caches)."""

    def initial_state(self) -> list[Tensor]:
        """The state before any token: a list of float tensors, each batch-first with batch 1
        (callers expand them to their batch)."""
        ...

    def step(self, token: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """token int64 [B] at position T and the state after positions 0 .. T - 1 -> (logits
        float [B, V] after it, the state after it, in the same layout). Feeding a stream's
        boundary token (position 0) then a name's characters gives, at every position
        T < block_size, the logits `forward` gives for the window that ends there."""
        ...


def is_window_network(network) -> bool:
    """Whether `network` has the required form: `forward` and an int `block_size` >= 1."""
    if not isinstance(network, WindowNetwork):
        return False
    block = network.block_size
    return isinstance(block, int) and not isinstance(block, bool) and block >= 1


def has_sequence_form(network) -> bool:
    """Whether `network` offers the optional `forward_sequence` (see SequenceNetwork)."""
    return isinstance(network, SequenceNetwork) and callable(network.forward_sequence)


def has_step_form(network) -> bool:
    """Whether `network` offers the optional step form, `initial_state` and `step` (see StepNetwork)."""
    return isinstance(network, StepNetwork) and callable(network.step) and callable(network.initial_state)
