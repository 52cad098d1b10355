"""The `linear` plugin is the tutorial's one-hot linear layer, trained on the count table."""

import pytest
import torch
import torch.nn.functional as F

import namegen
from namegen.data import split_names

NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "liam", "noah", "ava", "lucas"]


def tutorial_pairs(model, names):
    """The tutorial's xs, ys: every (previous, next) character pair, '.' at both ends."""
    xs, ys = [], []
    for name in names:
        ids = [0, *model.vocab_.encode(name), 0]
        xs += ids[:-1]
        ys += ids[1:]
    return torch.tensor(xs), torch.tensor(ys)


def tutorial_loss(weight, bias, xs, ys, l2):
    """The tutorial's loss: one-hot @ W (+ b), mean NLL over all pairs, plus l2 * mean(W**2)."""
    xenc = F.one_hot(xs, num_classes=weight.shape[0]).float()
    logits = xenc @ weight + bias
    probs = logits.exp() / logits.exp().sum(1, keepdim=True)
    return -probs[torch.arange(len(ys)), ys].log().mean() + l2 * (weight**2).mean()


def test_linear_val_nll_matches_counts_on_the_benchmark_corpus(shared_names):
    split = split_names(shared_names, 42)
    counts = namegen.create("counts").fit(split.train, split.val).score(split.val).nll
    linear = namegen.create("linear").fit(split.train, split.val).score(split.val).nll
    assert abs(linear - counts) < 0.01


@pytest.mark.parametrize("l2", [0.01, 0.1])
def test_training_on_the_table_follows_the_tutorials_per_pair_descent(l2):
    """Full-batch gradient descent on every pair (the tutorial's loop, from the plugin's zero
    start) must land on the same weights as the plugin's descent on the count table."""
    steps, lr = 100, 10.0
    model = namegen.create("linear", l2=l2, steps=steps, lr=lr).fit(NAMES)
    xs, ys = tutorial_pairs(model, NAMES)
    V = len(model.vocab_)
    weight = torch.zeros(V, V, requires_grad=True)
    bias = torch.zeros(V, requires_grad=True)
    first_gradient = None
    for _ in range(steps):
        loss = tutorial_loss(weight, bias, xs, ys, l2)
        weight.grad = bias.grad = None
        loss.backward()
        if first_gradient is None:
            first_gradient = weight.grad.norm().item()
        with torch.no_grad():
            weight -= lr * weight.grad
            bias -= lr * bias.grad
    fitted_w, fitted_b = model.network_.weight.detach(), model.network_.bias.detach()
    torch.testing.assert_close(fitted_w + fitted_b, (weight + bias).detach(), atol=2e-3, rtol=1e-3)
    torch.testing.assert_close(fitted_w, weight.detach(), atol=2e-3, rtol=1e-3)
    # the per-pair loss at the fitted weights is the table loss the plugin minimised
    fitted_w.requires_grad_(True)
    per_pair = tutorial_loss(fitted_w, fitted_b, xs, ys, l2)
    assert per_pair.item() == pytest.approx(tutorial_loss(weight, bias, xs, ys, l2).item(), abs=1e-4)
    assert per_pair.item() <= model.training_["loss"] + 1e-6  # the last step did not go uphill
    # and training went somewhere: the gradient at the fit is much smaller than at the start
    per_pair.backward()
    assert fitted_w.grad.norm().item() < 0.2 * first_gradient


def test_more_steps_lower_the_loss():
    losses = []
    for steps in (5, 50, 500):
        model = namegen.create("linear", steps=steps).fit(NAMES)
        xs, ys = tutorial_pairs(model, NAMES)
        losses.append(tutorial_loss(model.network_.weight.detach(), model.network_.bias.detach(), xs, ys, model.config.l2).item())
    assert losses[0] > losses[1] > losses[2]


def test_linear_predicts_like_the_count_table_on_seen_pairs():
    """With little regularisation the fitted softmax approaches the bigram frequencies."""
    model = namegen.create("linear", l2=0.0, steps=3000).fit(NAMES)
    counts = namegen.create("counts", alpha=1e-9).fit(NAMES)  # the raw frequencies, to within 1e-9
    contexts = torch.tensor([[0]])  # first letters: a, e, h, i, l, m, n, o, s
    torch.testing.assert_close(model.token_log_probs(contexts).exp(), counts.token_log_probs(contexts).exp(), atol=0.02, rtol=0)


def test_l2_shrinks_the_weights():
    weak = namegen.create("linear", l2=0.0, steps=300).fit(NAMES)
    strong = namegen.create("linear", l2=1.0, steps=300).fit(NAMES)
    mean_sq = lambda m: (m.network_.weight.detach() ** 2).mean().item()  # noqa: E731
    assert mean_sq(strong) < 0.5 * mean_sq(weak)
    # stronger smoothing also flattens the next-token distributions
    contexts = torch.arange(len(weak.vocab_))[:, None]
    entropy = lambda m: -(m.token_log_probs(contexts).exp() * m.token_log_probs(contexts)).sum(1).mean().item()  # noqa: E731
    assert entropy(strong) > entropy(weak)
