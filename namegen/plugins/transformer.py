"""`transformer`: a causal decoder (pre-LayerNorm, nanoGPT / makemore style) over the whole name.

The window is max_len tokens, so it always holds the boundary token before the name. The
network attends only from the last leading boundary token on and counts positions from it,
so a name reads the same however many boundary tokens pad it: a window and the whole padded
stream then give the same logits, and training can score every position of a name at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import NamegenError
from ..model import NameModel
from ..registry import register
from ..train import TrainConfig, check_at_least_one


class TanhGELU(nn.Module):
    """GELU's tanh form: exact GELU exports as Erf, which onnxruntime cannot run in float64 (the
    samplers' type). In float64 it is written out, because onnxruntime's float64 Gelu kernel is
    accurate to only ~6e-9 (its Tanh: 1e-16), enough to move a sampler's CDF boundary; in
    float32 (training, the scorer) it is torch's fused kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float64:
            return F.gelu(x, approximate="tanh")
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))))


class Block(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.width = heads, width
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), TanhGELU(), nn.Linear(4 * width, width), nn.Dropout(dropout))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, last: bool = False) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in self.qkv(self.ln1(x)).split(C, dim=2))
        if last:  # only the last position is read from here on: skip the other queries (most of forward's work)
            x, q, allowed = x[:, -1:], q[:, :, -1:], allowed[:, :, -1:]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // self.heads))
        att = self.drop(att.masked_fill(~allowed, float("-inf")).softmax(dim=-1))
        x = x + self.drop(self.proj((att @ v).transpose(1, 2).reshape(B, -1, C)))
        return x + self.mlp(self.ln2(x))

    def step(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor):
        """One position [B, C] after the cached ones' keys and values [B, T, heads, C / heads]:
        the position's output and the caches with it appended (forward's last query, eval mode).
        Positions first, heads merged: appending copies one block per name, not one per head."""
        size = self.width // self.heads  # sizes from attributes, not from x.shape: an export then reshapes by constants
        q, k, v = self.qkv(self.ln1(x)).view(-1, 3 * self.heads, size).split(self.heads, dim=1)  # forward's q, k, v heads
        keys, values = torch.cat([keys, k.unsqueeze(1)], dim=1), torch.cat([values, v.unsqueeze(1)], dim=1)
        # One query per head: products and sums over [B, T, heads, size], no transposes and no 1-row matrix products.
        att = ((q.unsqueeze(1) * keys).sum(dim=-1) * (1.0 / math.sqrt(size))).softmax(dim=1)  # [B, T, heads]
        x = x + self.proj((att.unsqueeze(-1) * values).sum(dim=1).reshape(-1, self.width))  # [B, heads, size] in head order, as forward's
        return x + self.mlp(self.ln2(x)), keys, values


class TransformerNetwork(nn.Module):
    def __init__(self, vocab_size: int, block_size: int, width: int, heads: int, layers: int, dropout: float):
        super().__init__()
        self.block_size = block_size
        self.token, self.position = nn.Embedding(vocab_size, width), nn.Embedding(block_size, width)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(width, heads, dropout) for _ in range(layers))
        self.ln, self.head = nn.LayerNorm(width), nn.Linear(width, vocab_size)

    def decode(self, tokens: torch.Tensor, last: bool = False) -> torch.Tensor:
        """int64 [B, T] -> the final features of each position [B, T, width] (of the last one only if `last`)."""
        leading = ((tokens != 0).long().cumsum(dim=1) == 0).sum(dim=1, keepdim=True)  # boundary tokens before the name
        index = torch.ones_like(tokens).cumsum(dim=1) - 1  # not arange: its export leaves CastLike nodes onnxruntime warns about
        position = index - (leading - 1).clamp(min=0)  # 0 at the last leading boundary token (or the first token if none)
        read = position >= 0
        causal = position[:, :, None] >= position[:, None, :]
        # Queries before the start attend as a plain causal decoder: never read, but kept finite.
        allowed = causal & (read[:, None, :] | ~read[:, :, None])  # [B, T queries, T keys]
        x = self.drop(self.token(tokens) + self.position(position.clamp(min=0)))
        for i, block in enumerate(self.blocks):
            x = block(x, allowed[:, None], last and i == len(self.blocks) - 1)
        return self.ln(x)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.head(self.decode(context, last=True)[:, -1])

    def initial_state(self) -> list[torch.Tensor]:
        """The step form's state before any token, batch 1: each block's empty key and value caches."""
        width, block = self.token.weight.shape[1], self.blocks[0]
        return [self.token.weight.new_zeros(1, 0, block.heads, width // block.heads) for _ in range(2 * len(self.blocks))]

    def step(self, token: torch.Tensor, state: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The step form: token int64 [B] at position T (the caches' length; the stream's boundary
        token is position 0) and the caches of positions 0 .. T - 1 -> the logits after it [B, V]
        and the caches with it. Valid for T < block_size, the positions `forward` counts."""
        position = torch.ones_like(state[0][:, :, 0, 0]).sum(dim=1).long()  # T per row, from the cache as a tensor: traced, not a constant
        x, new = self.token(token) + self.position(position), []
        for block, keys, values in zip(self.blocks, state[0::2], state[1::2]):
            x, keys, values = block.step(x, keys, values)
            new += [keys, values]
        return self.head(self.ln(x)), new

    def forward_sequence(self, stream: torch.Tensor) -> torch.Tensor:
        bs = self.block_size
        # Windows 0..bs-1 hold the stream's last leading boundary token (bs - 1), so one causal pass from it reads them
        # as forward does (forward masks the boundary tokens before it; here they are left out).
        logits = self.head(self.decode(stream[:, bs - 1 : 2 * bs - 1]))
        if stream.shape[1] >= 2 * bs:  # windows that start inside a name longer than bs - 2 characters: cut, as forward sees them
            windows = stream.unfold(1, bs, 1)[:, bs:]
            logits = torch.cat([logits, self(windows.flatten(0, 1)).unflatten(0, windows.shape[:2])], dim=1)
        return logits


@register("transformer")
class Transformer(NameModel):
    """A causal transformer decoder (pre-LayerNorm) that reads the whole name so far."""

    @dataclass
    class Config(TrainConfig):
        layers: int = 4
        heads: int = 4
        width: int = 64  # embedding width; a multiple of heads
        dropout: float = 0.15  # without it the decoder overfits early; 0.2 and 0.25 did worse at 20,000 steps
        weight_decay: float = 0.1
        steps: int = 20000  # the fit times and NLL are in docs/benchmarks.md
        eval_every: int = 500
        patience: int = 6
        ngram_mix: int = 6  # a Kneser-Ney 6-gram mixed in after training (namegen.mixture; 0: none)

        def __post_init__(self):
            check_at_least_one(self, "layers", "heads", "width")  # dropout: the trainer's checks
            if self.width % self.heads:
                raise NamegenError(f"width must be a multiple of heads, got width={self.width}, heads={self.heads}")

    test_hyperparams = {"layers": 1, "heads": 2, "width": 8, "steps": 150, "eval_every": 50, "lr": 0.01, "dropout": 0.0}

    def build_network(self, vocab_size: int, max_len: int) -> TransformerNetwork:
        c = self.config
        return TransformerNetwork(vocab_size, max_len, c.width, c.heads, c.layers, c.dropout)
