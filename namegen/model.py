"""The shared NameModel: every plugin is a Config dataclass plus a `network`, and this class
does the rest (fit, scoring, sampling, save/load) once for all of them.

A network maps contexts int64 [B, block_size] (the previous tokens, left-padded with the
boundary token 0) to float32 logits [B, V] of the next token, and has an int `block_size`; it
may also have `forward_sequence`, a faster way to train on and score whole names (namegen.train.sequence_logits).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
import types
import typing
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from . import mixture, sampling
from .contract import has_sequence_form, is_window_network
from .data import check_name_characters, check_names, examples
from .errors import NamegenError, NamegenWarning, warn_short
from .train import (
    MAX_ACTIVATION_BYTES,
    MAX_CONTEXT_BYTES,
    MAX_PARAMETERS,
    MAX_SEED,
    Examples,
    TooLarge,
    activation_bytes,
    fit_gradient,
    mean_nll,
    pair_logits,
    size_guard,
)
from .vocab import Vocab

MIN_MAX_LEN = 16  # the default sampling cap is twice the longest training name, and at least this
MAX_EXPORT_VOCAB = 256  # tokens (the boundary token included) the ONNX sampler handles: uint8 token ids


@dataclass(frozen=True)
class Score:
    """Mean negative log-likelihood per token (nats; each name's end token counts) and perplexity."""

    nll: float
    perplexity: float
    names: int
    tokens: int


class NameModel:
    """Base class of every plugin (scikit-learn style: hyper-parameters in, learned state ends in `_`)."""

    plugin_name: ClassVar[str] = ""
    Config: ClassVar[type]  # a dataclass of hyper-parameters, with defaults
    # Hyper-parameters for a quick, test-sized fit (seconds on a small name list): the test suite
    # and namegen.testing use them, so a plugin whose defaults train for minutes stays cheap to check.
    test_hyperparams: ClassVar[dict] = {}

    def __init__(self, **hyperparams):
        self.config = _make_config(self, hyperparams)
        self.vocab_: Vocab | None = None
        self.network_: torch.nn.Module | None = None
        self.max_len_: int | None = None
        self.known_names_: tuple[str, ...] | None = None  # what novel=True rejects: every name of the data fitted on
        self.training_: dict = {}
        self.weights_sha256_: str | None = None  # set by namegen.checkpoint: the weights file last saved or loaded

    # ---- what a plugin supplies --------------------------------------------------------
    def build_network(self, vocab_size: int, max_len: int) -> torch.nn.Module:
        """A fresh network for `vocab_size` tokens and names of up to `max_len` characters (the
        sampling cap, which a network that reads whole names sizes itself by); it must have an
        int `block_size`."""
        raise NotImplementedError

    def fit_network(self, train: Examples, val: Examples | None, progress: bool) -> dict:
        """Fit `self.network_` to the pairs; returns a summary for the checkpoint. Plugins with a
        better method than gradient descent (counting, a sufficient statistic) override this."""
        return fit_gradient(self.network_, train, val, self.config, progress=progress)

    # ---- shared ------------------------------------------------------------------------
    def fitted_network(self, vocab_size: int, max_len: int) -> torch.nn.Module:
        """The structure of a fitted network, untrained (what a checkpoint's weights fill): the
        plugin's network, inside an n-gram mixture when the config mixes one in."""
        network = self._build(None, vocab_size, max_len)  # guarded: a hand-edited config.json may ask for anything
        order = getattr(self.config, "ngram_mix", 0)
        return mixture.around(network, vocab_size, order) if order else network

    @property
    def hyperparams(self) -> dict:
        return dataclasses.asdict(self.config)

    @property
    def block_size(self) -> int:
        return self._fitted().block_size

    @property
    def training_names_(self) -> tuple[str, ...] | None:
        """The former name of `known_names_` (which held the training split alone)."""
        return self.known_names_

    @training_names_.setter
    def training_names_(self, names: tuple[str, ...] | None) -> None:
        self.known_names_ = names

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparams.items())
        return f"namegen.create({self.plugin_name!r}{', ' if args else ''}{args})"

    def fit(self, train_names: Sequence[str], val_names: Sequence[str] | None = None, progress: bool = False,
            device: str | None = None, known_names: Sequence[str] | None = None) -> NameModel:
        """Learn from `train_names`; `val_names` (optional) guide early stopping. Returns self.
        The vocabulary is every character of the names given here. `device` (e.g. "cuda") is
        where the shared trainer runs the network; the fitted model is always on the CPU.
        `known_names` (optional): more real names, such as a held-out test split, that
        `novel=True` must never return; they serve nothing else (no training, no vocabulary).
        The known names are the training, validation and `known_names` names together."""
        train_names = check_name_characters(check_names(train_names, "training names"), "training names")
        val_names = check_name_characters(check_names(val_names, "validation names"), "validation names") if val_names else []
        extra = check_names(known_names, "known names", allow_empty=True) if known_names is not None else []
        self.vocab_ = Vocab.from_names(train_names + val_names)
        self.max_len_ = max(MIN_MAX_LEN, 2 * max(map(len, train_names)))
        # For novel=True, in the run and the export. A name the vocabulary cannot spell can never
        # be drawn: it is left out.
        self.known_names_ = tuple(sorted({name for name in (*train_names, *val_names, *extra) if self.vocab_.covers(name)}))
        self.network_ = None
        if len(self.vocab_) > MAX_EXPORT_VOCAB:  # told before training, not after it, when the export fails
            warnings.warn(f"the names hold {len(self.vocab_) - 1:,} distinct characters: the model fits and works in "
                          f"Python, but the ONNX export handles at most {MAX_EXPORT_VOCAB - 1} (plus the boundary token), "
                          "so this run cannot be exported", NamegenWarning, stacklevel=2)
        self._check_sizes(train_names, val_names)
        with torch.random.fork_rng():  # seeded initialisation without touching the caller's RNG
            torch.manual_seed(getattr(self.config, "seed", 0))
            network = self._build(None)
        self._check_outputs(network)
        self.network_ = network
        train, val = self._examples(train_names)[0], (self._examples(val_names)[0] if val_names else None)
        start = time.perf_counter()
        try:
            if device is not None:
                self.network_.to(device)
            summary = self.fit_network(train, val, progress)
            if getattr(self.config, "ngram_mix", 0):
                network = self.network_.cpu().eval()
                self.network_ = mixture.around(network, len(self.vocab_), self.config.ngram_mix)
                if self.network_.block_size > network.block_size:  # the n-gram reads more characters than the network
                    train, val = self._examples(train_names)[0], (self._examples(val_names)[0] if val_names else None)
                summary.update(mixture.fit_mixture(self.network_, train, val))
        except BaseException:
            self.network_ = None  # a failed fit leaves no half-trained model to sample or save
            raise
        self.network_.cpu().eval()
        training = {
            "fit_seconds": round(time.perf_counter() - start, 4),
            "train_names": len(train_names), "val_names": len(val_names),
            **summary,
            "train_nll": mean_nll(self.network_, train),
            **({"val_nll": mean_nll(self.network_, val)} if val is not None else {}),
        }
        self._check_finite(training["train_nll"], training.get("val_nll", 0.0))
        self.training_ = training
        return self

    def _check_finite(self, train_nll: float, val_nll: float = 0.0) -> None:
        """A fit that diverged fails here, before anything is saved: NaN weights sample empty
        names and score nothing, and an infinite NLL cannot be written to config.json."""
        nan = [key for key, tensor in self.network_.state_dict().items() if tensor.is_floating_point() and tensor.isnan().any()]
        if nan or not math.isfinite(train_nll) or not math.isfinite(val_nll):
            self.network_ = None
            where = (f"weights {', '.join(nan[:3])} are NaN" if nan else
                     f"the training NLL is {train_nll}" if not math.isfinite(train_nll) else f"the validation NLL is {val_nll}")
            raise NamegenError(f"the {self.plugin_name!r} fit diverged ({where}); lower the learning rate or change the "
                               f"hyper-parameters ({self!r}); nothing was saved")

    def _asked(self) -> str:
        """The hyper-parameters given that differ from the defaults, for messages: "hidden=100000000"."""
        given = [f"{f.name}={getattr(self.config, f.name)!r}" for f in dataclasses.fields(self.config)
                 if f.default is dataclasses.MISSING or getattr(self.config, f.name) != f.default]
        return ", ".join(given) or "the defaults"

    def _build(self, device: torch.device | None, vocab_size: int | None = None, max_len: int | None = None) -> torch.nn.Module:
        """The plugin's network (for the fitted vocabulary and max_len unless given), built on
        `device` (None: the default) under namegen's size limits, with its block_size checked."""
        vocab_size = len(self.vocab_) if vocab_size is None else vocab_size
        max_len = self.max_len_ if max_len is None else max_len
        try:
            with size_guard(), (torch.device(device) if device is not None else contextlib.nullcontext()):
                network = self.build_network(vocab_size, max_len)
        except TooLarge as err:
            what, limit = err.args
            raise NamegenError(f"the {self.plugin_name!r} network would have {what} ({self._asked()}); at most {limit}: "
                               "ask for smaller sizes") from None
        if not is_window_network(network):
            raise TypeError(f"{type(self).__name__}.build_network must return a module with an int block_size >= 1 "
                            "(namegen.contract.WindowNetwork)")
        return network

    def _check_sizes(self, train_names: list[str], val_names: list[str]) -> None:
        """Refuse, before anything is allocated, a network or a training batch over the size
        limits (docs/plugins.md): the network is built on the meta device (shapes, no memory)
        to count its parameters, its block size gives the size of the (context, next) pairs,
        and a forward pass of one training batch there the activations it keeps. A network that
        cannot be built or run on meta skips what needs it (the real build has the same guard)."""
        try:
            network = self._build(torch.device("meta"))
        except (NamegenError, TypeError):
            raise
        except Exception:  # noqa: BLE001 - a network that needs real tensors to be built
            return
        parameters = sum(p.numel() for p in network.parameters())
        if parameters > MAX_PARAMETERS:
            raise NamegenError(f"the {self.plugin_name!r} network would have {parameters:,} parameters ({self._asked()}); "
                               f"at most {MAX_PARAMETERS:,}: ask for smaller sizes")
        block = max(network.block_size, getattr(self.config, "ngram_mix", 0) - 1)  # a mixed-in n-gram reads its own window
        for what, names in (("training", train_names), ("validation", val_names)):
            pairs = sum(map(len, names)) + len(names)
            if pairs * block * 8 > MAX_CONTEXT_BYTES:
                raise NamegenError(f"the {self.plugin_name!r} fit would hold {pairs:,} {what} contexts of {block:,} tokens each, "
                                   f"{_gigabytes(pairs * block * 8)} ({self._asked()}); at most {_gigabytes(MAX_CONTEXT_BYTES)}: "
                                   "ask for a shorter context, or give fewer or shorter names")
        batch_size = getattr(self.config, "batch_size", None)
        if isinstance(batch_size, int):  # trained in batches (TrainConfig): what one step keeps for backward
            try:
                kept = activation_bytes(network, [len(n) for n in train_names], batch_size)
            except Exception:  # noqa: BLE001 - a network that cannot run on meta: its output is checked next
                return
            if kept > MAX_ACTIVATION_BYTES:
                raise NamegenError(f"one training batch of {self.plugin_name!r} would keep about {_gigabytes(kept)} of activations "
                                   f"({self._asked()}); at most {_gigabytes(MAX_ACTIVATION_BYTES)}: lower batch_size or the network's sizes")

    def _check_outputs(self, network: torch.nn.Module) -> None:
        """A network must give float logits [B, V] (and forward_sequence [B, S - block_size + 1, V]);
        checked on two contexts before training, where a wrong shape would fail deep inside the
        loss, or train and then break the export."""
        V, bs = len(self.vocab_), network.block_size
        context = torch.zeros(2, bs, dtype=torch.int64)
        context[1, -1] = 1  # the first character, after the boundary tokens
        checks = [("forward", lambda: network(context), (2, V), "2 contexts", "batch, vocabulary size")]
        if has_sequence_form(network):
            stream = torch.zeros(2, bs + 2, dtype=torch.int64)
            stream[:, bs] = 1
            checks.append(("forward_sequence", lambda: network.forward_sequence(stream), (2, 3, V),
                           "2 streams of block_size + 2 tokens", "batch, windows, vocabulary size"))
        training = network.training
        network.eval()  # no dropout: the check draws nothing from torch's generator
        with torch.no_grad():
            for name, call, expected, given, axes in checks:
                out = call()
                if not (isinstance(out, torch.Tensor) and out.is_floating_point() and tuple(out.shape) == expected):
                    got = f"a {str(out.dtype).removeprefix('torch.')} tensor of shape {list(out.shape)}" if isinstance(out, torch.Tensor) \
                        else f"a {type(out).__name__}"
                    raise NamegenError(f"plugin {self.plugin_name!r}: {name} returned {got} for {given}; it must return "
                                       f"float logits {list(expected)} ({axes}); nothing was trained")
        network.train(training)

    def _fitted(self) -> torch.nn.Module:
        if self.network_ is None:
            raise NamegenError(f"the {self.plugin_name!r} model is not fitted; call fit() first or namegen.load() a run")
        return self.network_

    def _examples(self, names: Sequence[str], unseen: int | None = None) -> tuple[Examples, np.ndarray]:
        block_size = self._fitted().block_size
        encoded = [self.vocab_.encode(n, unseen) for n in names]
        contexts, targets, owners = examples(encoded, block_size)
        return Examples(torch.from_numpy(contexts), torch.from_numpy(targets), torch.from_numpy(owners)), owners

    @torch.no_grad()
    def token_log_probs(self, contexts: torch.Tensor, batch: int = 65536) -> torch.Tensor:
        """log p(next | context) for every token: float32 [B, V]."""
        network = self._fitted()
        return torch.cat([F.log_softmax(network(contexts[i : i + batch]), dim=-1) for i in range(0, len(contexts), batch)]) \
            if len(contexts) else torch.zeros(0, len(self.vocab_))

    def log_likelihood(self, names: Sequence[str], unseen_floor: float | None = None) -> np.ndarray:
        """Natural-log likelihood of each name, its end token included: float64 [len(names)].

        A character the model never saw raises, unless `unseen_floor` (a probability in (0, 1))
        is given: the unseen character then scores log(unseen_floor), and the positions after
        it see it as the boundary token.
        """
        self._fitted()
        names = check_names(names, "names", allow_empty=True)
        if unseen_floor is not None and not (isinstance(unseen_floor, (int, float)) and 0 < unseen_floor < 1):
            raise NamegenError(f"unseen_floor must be a probability between 0 and 1, got {unseen_floor}")
        try:
            data, owners = self._examples(names, unseen=-1 if unseen_floor is not None else None)
        except NamegenError as err:
            raise NamegenError(f"{err}; give unseen_floor (--unseen-floor) to score it anyway") from None
        unseen = data.targets < 0
        if not len(names):
            return np.zeros(0)
        known = Examples(data.contexts.clamp(min=0), data.targets.clamp(min=0), data.owners)
        log_probs = F.log_softmax(pair_logits(self.network_, known), dim=-1)
        picked = log_probs.gather(1, known.targets[:, None])[:, 0].double()
        if unseen_floor is not None:
            picked[unseen] = math.log(unseen_floor)
        return np.bincount(owners, weights=picked.numpy(), minlength=len(names)).astype(np.float64)

    def scorable(self, names: Sequence[str]) -> tuple[list[str], list[str]]:
        """`names` split into those the model can score and those with a character it never saw."""
        self._fitted()
        known, unknown = [], []
        for name in check_names(names, "names", allow_empty=True):
            (known if self.vocab_.covers(name) else unknown).append(name)
        return known, unknown

    def score(self, names: Sequence[str], unseen_floor: float | None = None) -> Score:
        """Mean NLL per token (nats) and perplexity over `names`."""
        self._fitted()
        names = check_names(names, "names")
        tokens = sum(map(len, names)) + len(names)
        nll = -float(self.log_likelihood(names, unseen_floor).sum()) / tokens
        return Score(nll=nll, perplexity=math.exp(nll), names=len(names), tokens=tokens)

    def sample_tokens(self, n: int, seed: int = 0, temperature: float = 1.0, max_len: int | None = None, prefix: str = "",
                      **constraints) -> np.ndarray:
        """Token ids [found, max_len] (0-padded) by the randomness contract of namegen.sampling:
        rule 1, or rule 2 with constraints (see `sample`). found < n only when rule 2's
        candidate budget ran out."""
        network = self._fitted()
        n = sampling.check_count(n)
        seed = sampling.check_seed(seed)
        temperature = sampling.check_temperature(temperature)
        rule = sampling.check_constraints(self.vocab_, n, self.max_len_, self.known_set() if constraints.get("novel") else None,
                                          prefix=prefix, max_len=max_len, **constraints)
        network = self._sampling_network(network)
        if not rule.rejects:  # every candidate passes: candidate i is name i, up to the budget
            count = min(n, rule.budget(n, sampling.candidate_cost(network, rule.max_len)))
            return sampling.sample_tokens(network, count, seed, temperature, rule.max_len, rule.prefix, rule.min_len).numpy()
        return sampling.sample_constrained(network, n, seed, temperature, rule).numpy()

    def known_set(self) -> sampling.KnownNames | None:
        """The known names as the fingerprint set that rule 2's novelty test reads, in torch and
        in the export alike (None when the model holds none). Built on first use, then cached."""
        names = self.known_names_
        if names is None:
            return None
        cached = getattr(self, "_known_set", None)
        if cached is None or cached[0] is not names or cached[1] is not self.vocab_:
            # covers(): a run saved before namegen filtered them may hold names of unseen characters
            known = sampling.KnownNames.of(self.vocab_.encode(name) for name in names if self.vocab_.covers(name))
            self._known_set = cached = (names, self.vocab_, known)
        return cached[2]

    def _sampling_network(self, network: torch.nn.Module) -> torch.nn.Module:
        """The network in float64, as every sampler runs it: float32 matrix products round
        differently in torch and onnxruntime (and across batch sizes), which could move a CDF
        boundary across a uniform; in float64 the gap is ~1e-16. Cached per fitted network."""
        cached = getattr(self, "_network64", None)
        if cached is None or cached[0] is not network:
            self._network64 = (network, copy.deepcopy(network).double().eval())
        return self._network64[1]

    def sample(self, n: int, seed: int = 0, temperature: float = 1.0, max_len: int | None = None, prefix: str = "",
               **constraints) -> list[str]:
        """`n` names; the same arguments always give the same names (see docs/sampling.md, rules 1 and 2).

        Constraints (rule 2): `prefix` (forced), `suffix`, `contains` (strings), `min_len`,
        `max_len` (characters), `novel` (not among the known names: every name of the data the
        model was fitted on), `exclude` (a list of names never returned), `distinct` (no repeats),
        `max_candidates` (the budget of candidates drawn; default max(10,000, 100 * n) when a
        constraint can reject). When the budget runs out, fewer names come back, with a
        NamegenWarning.
        """
        self._fitted()
        tokens = self.sample_tokens(n, seed, temperature, max_len, prefix, **constraints)
        if len(tokens) < n:
            warn_short(len(tokens), n)
        return [self.vocab_.decode(row) for row in tokens.tolist()]

    # ---- state: what a checkpoint stores ---------------------------------------------------
    def to_state(self) -> dict:
        """What a checkpoint stores of the fitted model besides its network's tensors, as plain
        values: `plugin`, `hyperparams`, `vocab` (its characters, the boundary token first, as
        one string), `block_size` (what the network reads; `from_state` does not need it),
        `max_len`, `training` (the fit's summary) and `known_names` (a tuple, or None)."""
        network = self._fitted()
        return {"plugin": self.plugin_name, "hyperparams": self.hyperparams, "vocab": "".join(self.vocab_.chars),
                "block_size": network.block_size, "max_len": self.max_len_, "training": copy.deepcopy(self.training_),
                "known_names": self.known_names_}

    def tensors(self) -> dict[str, torch.Tensor]:
        """The fitted network's tensors by name (its state_dict), detached and contiguous."""
        return {k: v.detach().contiguous() for k, v in self._fitted().state_dict().items()}

    @classmethod
    def from_state(cls, state: dict) -> NameModel:
        """A model of this plugin holding `state` (what `to_state` gave; `training` and
        `known_names` may be absent), not fitted until `load_tensors` fills its network. Bad
        hyper-parameters or a bad vocabulary raise NamegenError."""
        model = cls(**state["hyperparams"])
        model.vocab_ = Vocab(tuple(state["vocab"]))
        model.max_len_ = state["max_len"]
        model.training_ = copy.deepcopy(state.get("training", {}))
        names = state.get("known_names")
        model.known_names_ = tuple(names) if names is not None else None
        return model

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> NameModel:
        """Fill the structure of the fitted network (`fitted_network`) with `tensors` (what
        `tensors` gave), every one required; returns self, fitted. Tensors of other names or
        shapes raise RuntimeError (torch's load_state_dict); a structure over namegen's size
        limits, or tables that contradict the hyper-parameters, raise NamegenError."""
        network = self.fitted_network(len(self.vocab_), self.max_len_)
        network.load_state_dict(tensors, strict=True)
        self.network_ = network.eval()
        return self

    def save(self, path: str | Path, force: bool = False) -> Path:
        """Save into the run folder `path` (see namegen.checkpoint.save: atomic, safe against
        concurrent saves; a non-empty folder that is not a namegen run needs `force`)."""
        from .checkpoint import save

        return save(self, path, force=force)


def _gigabytes(size: int) -> str:
    return f"{size / 2**30:,.1f} GB" if size >= 2**29 else f"{size / 2**20:,.0f} MB"


def _make_config(model: NameModel, hyperparams: dict):
    """The plugin's Config from keyword arguments; unknown names and wrong types are rejected.
    Strings (from the command line) are converted to the field's type."""
    cls = model.Config
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in hyperparams.items():
        if key not in valid:
            raise NamegenError(f"unknown hyper-parameter {key!r} for plugin {model.plugin_name!r}; valid: {', '.join(valid) or 'none'}")
        values[key] = _coerce(key, value, hints[key])
    config = cls(**values)
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, float) and not math.isfinite(value):  # a default too: config.json and exports are strict JSON
            raise NamegenError(f"hyper-parameter {field.name!r} must be a finite number, got {value!r}")
    seed = getattr(config, "seed", 0)  # seeds torch's generators at fit, whatever the Config
    if isinstance(seed, int) and not 0 <= seed <= MAX_SEED:
        raise NamegenError(f"hyper-parameter seed must be from 0 to 2**63 - 1 ({MAX_SEED:,}), got {seed!r}")
    return config


def _coerce(key: str, value, kind: type):
    options = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else ()
    if type(None) in options:  # an optional hyper-parameter: None (or "none" from the command line) or its type
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "")):
            return None
        (kind,) = [option for option in options if option is not type(None)]
    if kind is bool:
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool):
            return value
    elif kind in (int, float) and not isinstance(value, bool):
        try:
            converted = kind(value)
            if kind is int and not isinstance(value, (int, str)) and float(value) != converted:  # 3.5 is no int; 2**63 - 1 is
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            pass
        else:
            if math.isfinite(converted):  # inf or nan would train a NaN model and save it
                return converted
            raise NamegenError(f"hyper-parameter {key!r} must be a finite number, got {value!r}")
    elif kind is str and isinstance(value, str):
        return value
    raise NamegenError(f"hyper-parameter {key!r} must be {kind.__name__}, got {value!r}")
