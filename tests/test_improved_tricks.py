"""Minibatch discrimination and virtual batch normalization (Salimans et al. 2016, §3.2, §3.5)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.errors import ZooConfigError
from zoo.nets.tricks import MinibatchDiscrimination, VirtualBatchNorm, forward_with_reference


def test_minibatch_features_have_width_in_plus_kernels_and_keep_the_input():
    layer = MinibatchDiscrimination(12, num_kernels=7, kernel_dim=3)
    x = torch.randn(9, 12)
    out = layer(x)
    assert out.shape == (9, 12 + 7) and layer.out_features == 19
    assert torch.equal(out[:, :12], x)


def test_identical_inputs_get_identical_outputs_and_count_each_other():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(8, num_kernels=5, kernel_dim=4)
    a = torch.randn(1, 8)
    collapsed = layer(a.repeat(6, 1))
    assert torch.equal(collapsed[0], collapsed[3])
    # five identical neighbours each: c_b = exp(0) = 1, the self term left out
    assert torch.allclose(collapsed[:, 8:], torch.full((6, 5), 5.0))


def test_distinct_inputs_are_separated_from_a_collapsed_batch():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(8, num_kernels=5, kernel_dim=4, init_std=1.0)
    diverse = layer(10 * torch.randn(6, 8))[:, 8:]
    collapsed = layer(torch.randn(1, 8).repeat(6, 1) + 1e-3 * torch.randn(6, 8))[:, 8:]
    assert diverse.max() < 0.5 and collapsed.min() > 4.5


def test_minibatch_discrimination_gradient_is_correct():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(4, num_kernels=3, kernel_dim=2).double()
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))


def test_minibatch_discrimination_rejects_wrong_width():
    with pytest.raises(ZooConfigError, match="expects features of shape"):
        MinibatchDiscrimination(4)(torch.randn(3, 5))


@pytest.mark.parametrize("shape", [(5, 3), (5, 3, 4, 4)])
def test_vbn_output_of_an_example_ignores_the_rest_of_its_batch(shape):
    torch.manual_seed(0)
    layer = VirtualBatchNorm(3)
    layer.set_reference(torch.randn(*shape))
    x = torch.randn(*shape)
    other = torch.randn(*shape) * 7 + 2
    other[1] = x[1]
    assert torch.allclose(layer(x)[1], layer(other)[1], atol=1e-6)
    assert not torch.allclose(layer(x)[0], layer(other)[0])


@pytest.mark.parametrize("shape", [(6, 3), (6, 3, 2, 5)])
def test_vbn_uses_the_statistics_of_reference_and_example_together(shape):
    torch.manual_seed(0)
    layer = VirtualBatchNorm(3, affine=False)
    reference = torch.randn(*shape) * 3 + 1
    layer.set_reference(reference)
    x = torch.randn(2, *shape[1:])
    out = layer(x)
    for i in range(2):
        union = torch.cat([reference, x[i : i + 1]]).transpose(0, 1).reshape(3, -1)  # (C, values)
        mean, var = union.mean(1), union.var(1, correction=0)
        view = (3,) + (1,) * (len(shape) - 2)
        assert torch.allclose(out[i], (x[i] - mean.view(view)) / torch.sqrt(var.view(view) + 1e-5), atol=1e-5)


def test_vbn_takes_its_reference_from_the_first_batch_and_keeps_it():
    layer = VirtualBatchNorm(2)
    first = torch.randn(4, 2)
    layer(first)
    assert torch.equal(layer.reference, first)
    layer(torch.randn(4, 2) + 10)
    assert torch.equal(layer.reference, first)


def test_vbn_reference_survives_a_state_dict_round_trip_into_a_fresh_module():
    torch.manual_seed(0)
    trained = nn.Sequential(nn.Linear(4, 3), VirtualBatchNorm(3))
    trained[1].set_reference(torch.randn(8, 3))
    with torch.no_grad():
        trained[1].weight.fill_(2.0)
    fresh = nn.Sequential(nn.Linear(4, 3), VirtualBatchNorm(3))
    fresh.load_state_dict(trained.state_dict())
    assert torch.equal(fresh[1].reference, trained[1].reference)
    x = torch.randn(5, 4)
    assert torch.equal(fresh(x), trained(x))


def test_live_reference_matches_stored_reference_of_the_propagated_batch():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), VirtualBatchNorm(3), nn.Tanh(), nn.Linear(3, 2))
    reference, x = torch.randn(7, 4), torch.randn(5, 4)
    live = forward_with_reference(net, reference, x)
    net[1].set_reference(net[0](reference).detach())
    assert torch.allclose(live, net(x), atol=1e-6)
    assert net[1].live_reference_rows is None
    # live statistics follow the weights, so gradients also flow through them: they differ from the stored ones
    (live_grad,) = torch.autograd.grad(forward_with_reference(net, reference, x).sum(), net[0].weight)
    (stored_grad,) = torch.autograd.grad(net(x).sum(), net[0].weight)
    assert not torch.allclose(live_grad, stored_grad, atol=1e-4)


def test_live_reference_keeps_examples_independent():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), VirtualBatchNorm(3), nn.Tanh())
    reference, x = torch.randn(7, 4), torch.randn(5, 4)
    other = torch.randn(5, 4)
    other[2] = x[2]
    assert torch.allclose(forward_with_reference(net, reference, x)[2], forward_with_reference(net, reference, other)[2])


def test_data_dependent_init_puts_nearest_neighbours_at_distance_two_and_centres_o():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(8, num_kernels=5, kernel_dim=4, init_std=1e-3)  # tiny T: every c_b ≈ 1
    features = torch.randn(16, 8)
    assert layer(features)[:, 8:].min() > 14.5  # o ≈ n − 1 = 15 before the init, which the released code avoids
    layer.initialise_from(features)
    rows = (features @ layer.kernels).view(16, 5, 4)
    distances = (rows[:, None] - rows[None, :]).abs().sum(-1)  # (n, n, B), by hand
    distances = distances + torch.diag(torch.full((16,), float("inf")))[:, :, None]
    torch.testing.assert_close(distances.amin(dim=1).mean(dim=0), torch.full((5,), 2.0))
    o = layer(features)[:, 8:]
    torch.testing.assert_close(o.mean(dim=0), torch.zeros(5), atol=1e-5, rtol=0)
    assert bool(layer.initialised)


def test_the_minibatch_discriminator_initialises_once_on_its_first_training_batch():
    from tests.conftest import tiny_vanilla

    torch.manual_seed(0)
    model = tiny_vanilla(d_input_dropout=0.0, d_hidden_dropout=0.0, minibatch_discrimination=6)
    layer = model.discriminator.minibatch
    model.discriminator.eval()
    model.discriminator(torch.rand(8, 1, 8, 8))
    assert not bool(layer.initialised)  # evaluation (e.g. Lightning's sanity check) leaves it alone
    model.discriminator.train()
    model.discriminator(torch.rand(8, 1, 8, 8))
    kernels, bias = layer.kernels.detach().clone(), layer.bias.detach().clone()
    assert bool(layer.initialised) and bias.abs().sum() > 0
    model.discriminator(torch.rand(8, 1, 8, 8))
    assert torch.equal(layer.kernels, kernels) and torch.equal(layer.bias, bias)
    fresh = tiny_vanilla(d_input_dropout=0.0, d_hidden_dropout=0.0, minibatch_discrimination=6)
    fresh.load_state_dict(model.state_dict())  # resume: the init is not redone
    assert bool(fresh.discriminator.minibatch.initialised)


def test_a_checkpoint_from_before_the_bias_and_init_still_loads():
    layer = MinibatchDiscrimination(8, num_kernels=5, kernel_dim=4)
    old = {"kernels": torch.randn(8, 20)}  # what the layer saved before it had a bias
    layer.load_state_dict(old)
    assert torch.equal(layer.kernels, old["kernels"]) and torch.equal(layer.bias, torch.zeros(5))
    assert bool(layer.initialised)  # a run resumed mid-training is not re-initialised
