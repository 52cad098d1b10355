"""TrainConfig.ngram_mix: a counted Kneser-Ney n-gram mixed into a trained network
(namegen.mixture). The mixture is log-linear, logits a * network + b * log p_ngram, with the
(a, b) that minimise the val NLL, so it scores the val names at least as well as either alone;
it keeps the network's step form, saves, loads and exports like any network."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import namegen
from namegen import checkpoint, mixture, sampling
from namegen.errors import NamegenError
from namegen.kneser_ney import NgramNetwork
from namegen.testing import step_identity_error

SMALL_MLP = {"block_size": 3, "steps": 200, "eval_every": 100, "hidden": 16, "embed": 4}
SMALL_RNN = {"steps": 300, "eval_every": 100, "lr": 0.01, "hidden": 12, "embed": 6, "layers": 1, "dropout": 0.0}  # no dropout: two fits train alike


@pytest.fixture(scope="module")
def split(bundled_names):
    from namegen.data import split_names

    return split_names(bundled_names[::15], seed=0)


@pytest.fixture(scope="module")
def pair(split):
    """The same rnn fitted twice on the same names: alone, and with a 4-gram mixed in."""
    alone = namegen.create("rnn", **SMALL_RNN, ngram_mix=0).fit(split.train, split.val)
    mixed = namegen.create("rnn", **SMALL_RNN, ngram_mix=4).fit(split.train, split.val)
    return alone, mixed


def test_fit_weights_recovers_the_weights_of_a_log_linear_model():
    generator = torch.Generator().manual_seed(0)
    logits = 2 * torch.randn(40000, 6, generator=generator, dtype=torch.float64)
    ngram = torch.randn(40000, 6, generator=generator, dtype=torch.float64).log_softmax(-1)
    truth = (0.7, 0.4)
    targets = torch.multinomial((truth[0] * logits + truth[1] * ngram).softmax(-1), 1, generator=generator)[:, 0]
    np.testing.assert_allclose(mixture.fit_weights(logits, ngram, targets).numpy(), truth, atol=0.03)
    # the n-gram's favourite is always the target: its weight grows, and stays finite (the ridge)
    a, b = mixture.fit_weights(logits, ngram, ngram.argmax(-1)).tolist()
    assert a < 1 < b < 1000


def test_the_mixture_is_the_weighted_sum_of_the_network_and_the_ngram_plugin(pair, split):
    alone, mixed = pair
    network = mixed.network_
    assert isinstance(network, mixture.NgramMixture)
    # the same weights and minibatches: the inner network is the network trained alone
    for key, tensor in alone.network_.state_dict().items():
        torch.testing.assert_close(network.network.state_dict()[key], tensor, rtol=0, atol=0)
    ngram = namegen.create("ngram", order=4).fit(split.train, split.val)
    assert ngram.vocab_ == mixed.vocab_
    contexts = mixed._examples(split.test)[0].contexts
    a, b = network.weights.tolist()
    expected = (a * alone.token_log_probs(contexts) + b * ngram.token_log_probs(contexts[:, -3:])).log_softmax(-1)
    torch.testing.assert_close(mixed.token_log_probs(contexts), expected, rtol=0, atol=1e-5)
    assert 0 < a and 0 < b  # each model adds something
    summary = mixed.training_["ngram_mix"]
    assert summary["order"] == 4 and (summary["network_weight"], summary["ngram_weight"]) == pytest.approx((a, b), abs=1e-6)
    assert summary["weights_fitted_on"] == "validation names"


def test_the_weight_fitted_on_val_scores_val_better_than_either_model(pair, split):
    alone, mixed = pair
    ngram = namegen.create("ngram", order=4).fit(split.train, split.val)
    mixed_val, alone_val, ngram_val = (m.score(split.val).nll for m in (mixed, alone, ngram))
    assert mixed_val < min(alone_val, ngram_val) - 0.002, (mixed_val, alone_val, ngram_val)
    assert mixed.training_["val_nll"] == pytest.approx(mixed_val, abs=1e-4)


def test_the_mixture_keeps_the_step_form_and_its_identity(pair):
    _, mixed = pair
    network = copy.deepcopy(mixed.network_).double()
    assert sampling.has_step_form(network)
    names = [mixed.vocab_.encode(n) for n in ("a", "emma", "christopher", "zz")]
    assert step_identity_error(network, names) < 1e-9


def test_a_network_without_a_step_form_mixes_without_one(split):
    model = namegen.create("mlp", **SMALL_MLP, ngram_mix=5).fit(split.train, split.val)
    assert isinstance(model.network_, mixture.NgramMixture) and not sampling.has_step_form(model.network_)
    assert model.network_.block_size == 4  # the n-gram reads 4 characters, the mlp 3: the window is the longer
    names = model.sample(20, seed=3)
    assert names == model.sample(20, seed=3) and all(names)


def test_save_and_load_keep_the_mixture(pair, tmp_path):
    _, mixed = pair
    mixed.save(tmp_path / "run")
    loaded = namegen.load(tmp_path / "run")
    assert isinstance(loaded.network_, mixture.NgramMixture)
    assert loaded.network_.weights.tolist() == mixed.network_.weights.tolist()
    assert loaded.sample(50, seed=7) == mixed.sample(50, seed=7)
    names = ["emma", "zoe", "maximilian"]
    np.testing.assert_array_equal(loaded.log_likelihood(names), mixed.log_likelihood(names))


def test_without_val_names_the_weight_is_the_default(split):
    model = namegen.create("rnn", **SMALL_RNN, ngram_mix=3).fit(split.train)
    assert tuple(model.network_.weights.tolist()) == mixture.DEFAULT_WEIGHTS
    assert model.training_["ngram_mix"]["weights_fitted_on"] == "none (default weights)"


@pytest.mark.parametrize("order", [-1, -5])
def test_a_negative_order_is_a_clear_error(order):
    with pytest.raises(NamegenError, match="ngram_mix must be 0"):
        namegen.create("rnn", ngram_mix=order)


def test_an_order_too_high_for_the_vocabulary_is_a_clear_error_at_fit(split):
    with pytest.raises(NamegenError, match="order 20 is too high"):
        namegen.create("rnn", **SMALL_RNN, ngram_mix=20).fit(split.train, split.val)


def test_the_transformer_mixes_a_6gram_by_default():
    assert namegen.create("transformer").config.ngram_mix == 6
    assert namegen.create("transformer", ngram_mix=0).config.ngram_mix == 0


def test_a_run_written_before_the_mixture_loads_unmixed(pair, tmp_path):
    """Format 1 runs have no ngram_mix: they mixed nothing in, whatever the plugin's default is now."""
    import json

    alone, _ = pair
    assert namegen.create("rnn").config.ngram_mix == 6 and alone.config.ngram_mix == 0
    alone.save(tmp_path / "run")
    config_path = tmp_path / "run" / "config.json"
    config = json.loads(config_path.read_text())
    assert config["format_version"] == checkpoint.FORMAT_VERSION
    del config["hyperparams"]["ngram_mix"]
    config["format_version"] = 1
    config_path.write_text(json.dumps(config))
    loaded = namegen.load(tmp_path / "run")
    assert loaded.config.ngram_mix == 0 and not isinstance(loaded.network_, mixture.NgramMixture)
    assert loaded.sample(30, seed=5) == alone.sample(30, seed=5)


@pytest.mark.parametrize("order", [1, 2, 6])
def test_the_transition_table_moves_to_the_row_the_trie_walk_finds(order, bundled_names):
    """Carrying the row from position to position (the mixture's step form) reads what `forward`
    reads on every window: names drawn from the data and random strings, with their ends."""
    model = namegen.create("ngram", order=order).fit(bundled_names[::5])
    V = len(model.vocab_)
    network = NgramNetwork(V, order, steps=True)
    network.load_state_dict(model.network_.state_dict())  # rebuilds the tables, the transitions with them
    transitions = network.transitions
    assert transitions.shape == (len(network.log_probs), V)
    generator = torch.Generator().manual_seed(1)
    names = [model.vocab_.encode(n) for n in bundled_names[1::97][:150]]
    names += [torch.randint(1, V, (int(n),), generator=generator).tolist() for n in torch.randint(1, 14, (150,), generator=generator)]
    bs = network.block_size
    for ids in names:
        stream = [0] * bs + ids + [0, 0]  # the end token, then a boundary token again: histories a step form can be fed
        row = torch.zeros(1, dtype=torch.long)
        for t in range(bs - 1, len(stream)):
            row = transitions[row, stream[t]].long()
            window = torch.tensor([stream[t - bs + 1 : t + 1]])
            torch.testing.assert_close(network.log_probs[row], network(window), rtol=0, atol=0)


def dense_run(model, folder) -> None:
    """Rewrite the run `model` was saved to as format 2 wrote it: the n-gram's dense tables
    (log_probs, trie, and a step form's transitions beside the n-gram), no compact tensors."""
    import hashlib
    import json

    from safetensors.torch import load_file, save

    from namegen.kneser_ney import CODEBOOKS, compact_names

    config = json.loads((folder / "config.json").read_text())
    tensors = load_file(folder / config["weights"])
    ngram = model.network_.ngram if isinstance(model.network_, mixture.NgramMixture) else model.network_
    prefix = "ngram." if ngram is not model.network_ else ""
    for name in [*compact_names(ngram.order), *CODEBOOKS]:
        tensors.pop(prefix + name, None)
    tensors[prefix + "log_probs"] = ngram.log_probs
    if ngram.order > 1:
        tensors[prefix + "trie"] = ngram.trie
    if isinstance(model.network_, mixture.SteppedNgramMixture):
        tensors["transitions"] = ngram.transitions
    weights = save(tensors)
    digest = hashlib.sha256(weights).hexdigest()
    (folder / config["weights"]).unlink()
    config.update(format_version=2, weights=f"weights-{digest[:16]}.safetensors", weights_sha256=digest)
    config["hyperparams"].pop("bits", None)
    (folder / config["weights"]).write_bytes(weights)
    (folder / "config.json").write_text(json.dumps(config))


def test_a_run_with_dense_ngram_tables_still_loads(pair, tmp_path, bundled_names):
    """Format 2 stored the n-gram's dense tables (and a step form's transition table): such a run
    loads with them, scores and samples as it did, and exports."""
    from namegen.exports.onnx import export

    _, mixed = pair
    ngram = namegen.create("ngram", order=4).fit(bundled_names[::5])
    for model, name in ((mixed, "mixed"), (ngram, "ngram")):
        model.save(tmp_path / name)
        dense_run(model, tmp_path / name)
        loaded = namegen.load(tmp_path / name)
        state = loaded.network_.state_dict()
        assert "log_probs" in "".join(state) and "value0" not in "".join(state)  # the dense layout, kept
        names = bundled_names[1::50]
        np.testing.assert_array_equal(loaded.log_likelihood(names), model.log_likelihood(names))
        assert loaded.sample(100, seed=3) == model.sample(100, seed=3)
        export(loaded, tmp_path / f"{name}.onnx", names=names)  # validates itself against the torch model
    assert namegen.load(tmp_path / "ngram").hyperparams == {"order": 4, "bits": 32}
