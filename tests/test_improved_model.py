"""The semi-supervised K+1 GAN (Salimans et al. 2016, §5): nets, losses wired to the core, learning."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import DataLoader, TensorDataset

from tests.conftest import REPO, quiet_trainer
from zoo.data.semisupervised import GENERATOR_TARGETS, LabelledAndUnlabelled, TiledPairSampler
from zoo.errors import ZooConfigError
from zoo.models.improved import SemiSupervisedGAN
from zoo.nets.semisupervised import SemiSupervisedMNISTDiscriminator, SemiSupervisedMNISTGenerator
from zoo.nets.tricks import GaussianNoise, weight_norm_data_init_
from zoo.objectives.improved import feature_matching_loss


def _weight_normed(net):
    return [m for m in net.modules() if isinstance(m, nn.Linear) and parametrize.is_parametrized(m, "weight")]


def test_the_papers_mnist_nets():
    generator, discriminator = SemiSupervisedMNISTGenerator(), SemiSupervisedMNISTDiscriminator()
    g_linear = [m for m in generator.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in g_linear] == [(100, 500), (500, 500), (500, 784)]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in generator.modules()) == 2
    assert sum(isinstance(m, nn.Softplus) for m in generator.modules()) == 2
    assert _weight_normed(generator) == [g_linear[-1]] and generator.output_range == (0.0, 1.0)
    d_linear = _weight_normed(discriminator)
    widths = [(m.in_features, m.out_features) for m in d_linear]
    assert widths == [(784, 1000), (1000, 500), (500, 250), (250, 250), (250, 250), (250, 10)]
    assert [m.sigma for m in discriminator.modules() if isinstance(m, GaussianNoise)] == [0.3] + [0.5] * 5
    assert not any(isinstance(m, nn.BatchNorm1d) for m in discriminator.modules())
    # the released code learns the scale g of D's logit layer only, and no batch-norm scale in G
    assert [m.parametrizations.weight.original0.requires_grad for m in d_linear] == [False] * 5 + [True]
    assert not any(m.weight.requires_grad for m in generator.modules() if isinstance(m, nn.BatchNorm1d))


def test_a_softplus_output_is_the_only_change_of_the_softplus_variant():
    torch.manual_seed(0)
    sigmoid = SemiSupervisedMNISTGenerator()
    torch.manual_seed(0)
    softplus = SemiSupervisedMNISTGenerator(output="softplus")
    assert softplus.output_range is None and isinstance(softplus.net[-1], nn.Softplus)
    z = torch.rand(8, 100)
    sigmoid.eval(), softplus.eval()
    pre_activation = softplus.net[:-1](z)  # same weights: the outputs differ by the last activation alone
    assert torch.allclose(sigmoid(z).flatten(1), torch.sigmoid(pre_activation))
    assert torch.allclose(softplus(z).flatten(1), nn.functional.softplus(pre_activation))
    with pytest.raises(ZooConfigError, match="g_output must be sigmoid or softplus"):
        SemiSupervisedMNISTGenerator(output="tanh")


def test_discriminator_is_noisy_in_training_and_deterministic_in_eval():
    discriminator = SemiSupervisedMNISTDiscriminator(data_shape=(1, 4, 4), hidden=(8, 6))
    x = torch.rand(5, 1, 4, 4)
    logits, features = discriminator.logits_and_features(x)
    assert logits.shape == (5, 10) and features.shape == (5, 6)
    assert not torch.equal(discriminator(x), discriminator(x))
    discriminator.eval()
    assert torch.equal(discriminator(x), discriminator(x))


def test_data_dependent_init_gives_unit_variance_pre_activations():
    torch.manual_seed(0)
    discriminator = SemiSupervisedMNISTDiscriminator(data_shape=(1, 4, 4), hidden=(8, 6)).eval()
    x = torch.rand(200, 1, 4, 4) * 3
    weight_norm_data_init_(discriminator, x)
    outputs = []
    handles = [m.register_forward_hook(lambda m, i, o: outputs.append(o)) for m in _weight_normed(discriminator)]
    discriminator(x)
    for handle in handles:
        handle.remove()
    for out in outputs:
        assert torch.allclose(out.mean(0), torch.zeros(out.shape[1]), atol=1e-4)
        assert torch.allclose(out.std(0, correction=0), torch.ones(out.shape[1]), atol=1e-3)


def test_first_commit_generator_init_centres_each_output_unit_and_scales_all_by_one_number():
    torch.manual_seed(0)
    generator = SemiSupervisedMNISTGenerator(latent_dim=6, data_shape=(1, 4, 4), hidden=(12,))
    z = torch.rand(100, 6)
    layer = _weight_normed(generator)[0]
    weights_before = layer.weight.detach().clone()
    weight_norm_data_init_(generator, z, per_unit_scale=False)
    outputs = []
    handle = layer.register_forward_hook(lambda m, i, o: outputs.append(o))
    generator(z)  # train mode: batch norm on the same batch's statistics, as during the init pass
    handle.remove()
    out = outputs[0]
    assert torch.allclose(out.mean(0), torch.zeros(16), atol=1e-5)
    assert out.square().mean().item() == pytest.approx(1.0, abs=1e-4)
    assert out.std(0, correction=0).std().item() > 0.05  # one scale for all: the units keep their spreads
    ratio = layer.weight.detach() / weights_before  # the directions stay; every unit's norm moves alike
    assert torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio), rtol=1e-4)


def test_g_output_init_data_initialises_g_from_its_noise_at_fit_start():
    torch.manual_seed(0)
    model = tiny_model(g_output_init="data")
    untouched = tiny_model()
    train, test = loaders()
    quiet_trainer(max_epochs=1, limit_train_batches=1).fit(model, train, test)
    scale = _weight_normed(model.generator)[0].parametrizations.weight.original0
    unit = _weight_normed(untouched.generator)[0].parametrizations.weight.original0
    assert torch.equal(unit, torch.ones_like(unit))
    assert not torch.allclose(scale, torch.ones_like(scale), atol=1e-2)
    with pytest.raises(ZooConfigError, match="g_output_init must be unit or data"):
        tiny_model(g_output_init="glorot")


def tiny_model(**kwargs):
    options = dict(data_shape=(1, 4, 4), num_classes=2, latent_dim=4, g_hidden=(16,), d_hidden=(32, 16),
                   input_noise=0.1, hidden_noise=0.1, g_lr=0.01, d_lr=0.01, d_average_decay=0.9)
    return SemiSupervisedGAN(**{**options, **kwargs})


def two_blobs(n, generator):
    """Two classes of 4×4 images in [0, 1]: bright on the left half, or on the right half."""
    labels = torch.randint(0, 2, (n,), generator=generator)
    images = 0.2 * torch.rand(n, 1, 4, 4, generator=generator)
    images[labels == 0, :, :, :2] += 0.7
    images[labels == 1, :, :, 2:] += 0.7
    return images.clamp(0, 1), labels


def loaders(labels_per_class=2):
    generator = torch.Generator().manual_seed(0)
    unlabelled, _ = two_blobs(400, generator)
    pool, pool_labels = two_blobs(100, generator)
    chosen = torch.cat([(pool_labels == c).nonzero().flatten()[:labels_per_class] for c in (0, 1)])
    train = LabelledAndUnlabelled(unlabelled, pool[chosen], pool_labels[chosen])
    test = TensorDataset(*two_blobs(300, generator))
    pairs = TiledPairSampler(len(unlabelled), len(chosen), seed=0)
    return DataLoader(train, batch_size=20, sampler=pairs), DataLoader(test, batch_size=100)


def test_a_few_labels_train_a_classifier_and_both_players_step():
    torch.manual_seed(0)
    model = tiny_model()
    train, test = loaders()
    trainer = quiet_trainer(max_epochs=3)
    trainer.fit(model, train, test)
    assert model.discriminator_steps == model.generator_steps == 3 * len(train)
    metrics = trainer.callback_metrics
    assert metrics["val/error"] < 0.1  # chance is 0.5; 4 labels in all
    assert metrics["val/errors"] == pytest.approx(metrics["val/error"].item() * 300)
    with torch.no_grad():
        current = sum(model.eval().classification_errors(x, y, averaged=False) for x, y in test)
    assert metrics["val/errors_current_d"] == current  # logged beside the averaged D's count
    assert {"train/supervised_loss", "train/unsupervised_loss", "train/labelled_error"} <= set(metrics)


def test_generator_loss_is_feature_matching_on_the_last_hidden_layer():
    torch.manual_seed(0)
    model = tiny_model().eval()
    real, fake = torch.rand(8, 1, 4, 4), torch.rand(8, 1, 4, 4)
    features = model.discriminator.body
    assert torch.allclose(model.generator_loss(fake, real), ((features(real).mean(0) - features(fake).mean(0)) ** 2).mean())
    assert torch.allclose(model.generator_loss(fake, real), feature_matching_loss(features(real), features(fake), "l2", "mean"))


def test_with_a_second_unlabelled_batch_g_matches_its_features_not_ds_batchs():
    torch.manual_seed(0)
    model = tiny_model().eval()
    real, targets, fake = torch.rand(8, 1, 4, 4), torch.rand(8, 1, 4, 4), torch.rand(8, 1, 4, 4)
    labelled = {"labelled": torch.rand(2, 1, 4, 4), "label": torch.tensor([0, 1])}
    assert model.real_batch({"unlabelled": real, GENERATOR_TARGETS: targets, **labelled}) is real  # D's real batch
    features = model.discriminator.body
    expected = ((features(targets).mean(0) - features(fake).mean(0)) ** 2).mean()
    assert torch.allclose(model.generator_loss(fake, real), expected)
    model.real_batch({"unlabelled": real, **labelled})  # a batch without them: back to D's batch
    assert torch.allclose(model.generator_loss(fake, real), ((features(real).mean(0) - features(fake).mean(0)) ** 2).mean())


def test_evaluation_uses_the_moving_average_of_d():
    torch.manual_seed(0)
    model = tiny_model(d_average_decay=0.5).eval()
    x, labels = torch.rand(50, 1, 4, 4), torch.randint(0, 2, (50,))
    initial = [p.detach().clone() for p in model.discriminator.parameters()]
    before = model.classification_errors(x, labels)
    with torch.no_grad():
        for parameter in model.discriminator.parameters():
            parameter.mul_(-3.0)
    assert model.classification_errors(x, labels) == before  # the average has not moved yet
    flipped = (model.discriminator(x).argmax(dim=1) != labels).sum()
    assert model.classification_errors(x, labels, averaged=False) == flipped
    model.on_train_batch_end(None, None, 0)
    for average, current, start in zip(model.d_average.shadow.parameters(), model.discriminator.parameters(), initial):
        assert torch.allclose(average, 0.5 * start + 0.5 * current)
    assert tiny_model(d_average_decay=None).d_average is None


def test_the_average_of_d_starts_at_zero_for_what_d_trains_as_the_released_code():
    torch.manual_seed(0)
    model = tiny_model(d_average_decay=0.9)
    train, test = loaders()
    quiet_trainer(max_steps=2, limit_val_batches=0).fit(model, train, test)  # one D step and one G step
    assert model.discriminator_steps == 1
    pairs = list(zip(model.d_average.shadow.parameters(), model.discriminator.parameters()))
    assert any(not current.requires_grad for _, current in pairs)  # the hidden layers' fixed weight-norm scales
    for averaged, current in pairs:
        expected = 0.1 * current if current.requires_grad else current  # 0.9 · 0 + 0.1 · θ₁
        assert torch.allclose(averaged, expected)


def test_discriminator_loss_needs_labelled_batches():
    with pytest.raises(ZooConfigError, match="labelled batches"):
        tiny_model().discriminator_loss(torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4))


def test_mnist_100_config_runs_end_to_end(tmp_path, capsys, monkeypatch, mnist_root):
    from zoo.cli import main

    monkeypatch.chdir(tmp_path)
    short = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
             "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
    code = main(["fit", "--config", str(REPO / "configs" / "improved" / "mnist_100.yaml"), *short])
    assert code == 0, capsys.readouterr().err
    run = tmp_path / "runs" / "improved-mnist-100" / "version_0"
    metrics = (run / "metrics.csv").read_text()
    assert "val/error" in metrics and "val/errors" in metrics
    assert (run / "checkpoints" / "last.ckpt").exists()
