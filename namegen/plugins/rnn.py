"""`rnn`: a GRU or LSTM (makemore style) that reads the whole name so far.

The window is max_len tokens, so it always holds the whole name. The state starts from a
learned start state and moves only on tokens that are not the boundary token 0 (names never
contain it), so the boundary tokens that pad a window change nothing: a window and the whole
padded stream then give the same logits, and training can score every position of a name at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..errors import NamegenError
from ..model import NameModel
from ..registry import register
from ..train import TrainConfig, check_at_least_one


class RNNNetwork(nn.Module):
    def __init__(self, vocab_size: int, block_size: int, cell: str, embed: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.block_size, self.lstm = block_size, cell == "lstm"
        gates = 4 if self.lstm else 3
        self.embed = nn.Embedding(vocab_size, embed)
        # Input-to-gate maps run on every position at once; only the hidden-to-gate maps run step by step.
        self.inputs = nn.ModuleList(nn.Linear(embed if i == 0 else hidden, gates * hidden) for i in range(layers))
        self.recurrent = nn.ModuleList(nn.Linear(hidden, gates * hidden) for _ in range(layers))
        self.start = nn.Parameter(torch.zeros(layers, 2 if self.lstm else 1, hidden))  # learned h (and c) before the name
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab_size)

    def cell(self, layer: int, gx: torch.Tensor, h: torch.Tensor, c: torch.Tensor, move: torch.Tensor):
        """One step of layer `layer`: its input's gates `gx`, state (h, c) -> the next (h, c),
        moved only where `move` (the token is not the boundary)."""
        gh = self.recurrent[layer](h)
        if self.lstm:
            i, f, g, o = (gx + gh).chunk(4, dim=-1)
            c = torch.where(move, torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g), c)
            new = torch.sigmoid(o) * torch.tanh(c)
        else:  # torch.nn.GRU's equations
            (xr, xz, xn), (hr, hz, hn) = gx.chunk(3, dim=-1), gh.chunk(3, dim=-1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            new = n + z * (h - n)
        return torch.where(move, new, h), c

    def run(self, tokens: torch.Tensor) -> torch.Tensor:
        """int64 [B, T] -> the top layer's state after each position, [B, T, hidden]."""
        moves = (tokens != 0).unsqueeze(-1).unbind(dim=1)  # the boundary token leaves every state as it is
        x = self.drop(self.embed(tokens))
        for layer, (inputs, start) in enumerate(zip(self.inputs, self.start)):
            h, c = start[0], start[-1]  # [hidden]: broadcast against the batch on the first step
            outputs = []
            for gx, move in zip(inputs(x).unbind(dim=1), moves):
                h, c = self.cell(layer, gx, h, c, move)
                outputs.append(h)
            x = self.drop(torch.stack(outputs, dim=1))
        return x

    def initial_state(self) -> list[torch.Tensor]:
        """The step form's state before any token, batch 1: each layer's h (and an LSTM's c)."""
        return [s[None] for start in self.start for s in start]

    def step(self, token: torch.Tensor, state: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The step form: token int64 [B] and the state after the tokens before it -> the logits
        after it [B, V] and the state after it (the hidden states; `run`'s cell, one position)."""
        move = (token != 0).unsqueeze(-1)
        per_layer, new = 2 if self.lstm else 1, []
        # The first layer's input gates of every token, looked up: a V-row table (constant in an export) instead of a product per name.
        gx = self.inputs[0](self.embed.weight)[token]
        for layer, inputs in enumerate(self.inputs):
            h, c = state[per_layer * layer], state[per_layer * layer + per_layer - 1]
            h, c = self.cell(layer, gx if layer == 0 else inputs(new[per_layer * (layer - 1)]), h, c, move)  # the layer below's new h
            new += [h, c] if self.lstm else [h]
        return self.head(new[-per_layer]), new

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.head(self.run(context)[:, -1])

    def forward_sequence(self, stream: torch.Tensor) -> torch.Tensor:
        bs = self.block_size
        # Windows 0..bs hold every token of the name before their end, so one pass reads them as forward does
        # (from the last leading boundary token, bs - 1: the ones before it would leave the start state as it is).
        logits = self.head(self.run(stream[:, bs - 1 : 2 * bs]))
        if stream.shape[1] > 2 * bs:  # windows that cut a name longer than bs - 1 characters, as forward sees them
            windows = stream.unfold(1, bs, 1)[:, bs + 1 :]
            logits = torch.cat([logits, self(windows.flatten(0, 1)).unflatten(0, windows.shape[:2])], dim=1)
        return logits


@register("rnn")
class RNN(NameModel):
    """A GRU or LSTM with a learned start state that reads the whole name so far."""

    @dataclass
    class Config(TrainConfig):
        cell: str = "gru"  # gru or lstm
        embed: int = 64
        hidden: int = 96  # 2 x 96: the widest that keeps the exported sampler above 30,000 names/s (docs/benchmarks.md)
        layers: int = 2
        dropout: float = 0.1
        weight_decay: float = 0.1  # 0.01 overfits at these sizes and steps
        steps: int = 10000
        eval_every: int = 500
        patience: int = 6
        ngram_mix: int = 6  # a Kneser-Ney 6-gram mixed in after training (namegen.mixture; 0: none)

        def __post_init__(self):
            if self.cell not in ("gru", "lstm"):
                raise NamegenError(f"cell must be 'gru' or 'lstm', got {self.cell!r}")
            check_at_least_one(self, "embed", "hidden", "layers")  # dropout: the trainer's checks

    test_hyperparams = {"embed": 4, "hidden": 8, "steps": 150, "eval_every": 50, "lr": 0.01, "dropout": 0.0}

    def build_network(self, vocab_size: int, max_len: int) -> RNNNetwork:
        c = self.config
        return RNNNetwork(vocab_size, max_len, c.cell, c.embed, c.hidden, c.layers, c.dropout)
