"""`ngram`: an interpolated Kneser-Ney character n-gram, the classic NLP baseline, fitted by
counting (the estimator and its network: namegen.kneser_ney)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import NamegenError
from ..kneser_ney import NgramNetwork, count
from ..model import NameModel
from ..registry import register
from ..train import MAX_NGRAM_ORDER


@register("ngram")
class Ngram(NameModel):
    """Interpolated modified Kneser-Ney character n-gram, fitted by counting."""

    @dataclass
    class Config:
        # characters per n-gram, the next one included (the context is order - 1 characters).
        # 6 is best on validation data of names.txt and of the bundled data (docs/benchmarks.md).
        order: int = 6
        # bits of each stored log-probability and back-off weight: 8 (one-byte codes into a
        # codebook per context length, as KenLM quantises: a small loss, docs/plugins.md) or 32
        # (float32: the exact estimate, several times the bytes)
        bits: int = 8

        def __post_init__(self):
            if not 1 <= self.order <= MAX_NGRAM_ORDER:  # the vocabulary's own bound is checked at fit
                raise NamegenError(f"order must be from 1 to {MAX_NGRAM_ORDER}, got {self.order}")
            if self.bits not in (8, 32):
                raise NamegenError(f"bits must be 8 or 32, got {self.bits}")

    def build_network(self, vocab_size: int, max_len: int) -> NgramNetwork:
        return NgramNetwork(vocab_size, self.config.order)

    def fit_network(self, train, val, progress):
        return count(self.network_, train.contexts, train.targets, quantised=self.config.bits == 8)
