"""The MNIST domain classifier: quick training, save/load, input forms, and classifier FID/IS."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from zoo.errors import ZooWeightsError
from zoo.eval.classifier import MNISTClassifier, load_mnist_classifier, train_mnist_classifier
from zoo.eval.fidelity import compute_fid, compute_inception_score, mnist_fid, mnist_inception_score


@pytest.fixture(scope="module")
def quick_classifier(tmp_path_factory, mnist_root):
    """A classifier trained for 60 steps on 3000 digits (the real one trains for 3 epochs on 60k)."""
    root = mnist_root
    path = tmp_path_factory.mktemp("classifier") / "mnist_classifier.pt"
    metadata = train_mnist_classifier(root, epochs=2, seed=0, out_path=path, batch_size=64, max_steps=60,
                                      train_subset=3000, test_subset=2000)
    return path, metadata, root


def test_quick_training_beats_chance_and_records_metadata(quick_classifier):
    path, metadata, _ = quick_classifier
    assert metadata["steps"] == 60 and metadata["train_size"] == 3000 and metadata["test_size"] == 2000
    assert metadata["test_accuracy"] > 0.6  # chance is 0.1
    assert metadata["path"] == str(path) and len(metadata["sha256"]) == 16


def test_the_weights_hash_names_the_weights_not_the_file(quick_classifier, tmp_path):
    path, metadata, _ = quick_classifier
    saved = torch.load(path, weights_only=True)
    torch.save({**saved, "metadata": {**saved["metadata"], "seconds": saved["metadata"]["seconds"] + 1}}, tmp_path / "again.pt")
    again = load_mnist_classifier(tmp_path / "again.pt").metadata
    assert again["sha256"] != metadata["sha256"]  # the file records its training time
    assert again["weights_sha256"] == metadata["weights_sha256"] == load_mnist_classifier(path).metadata["weights_sha256"]
    nudged = {k: v.clone() for k, v in saved["state_dict"].items()}
    first = next(k for k, v in nudged.items() if v.is_floating_point())
    nudged[first].view(-1)[0] += 1e-6
    torch.save({**saved, "state_dict": nudged}, tmp_path / "nudged.pt")
    assert load_mnist_classifier(tmp_path / "nudged.pt").metadata["weights_sha256"] != metadata["weights_sha256"]


def test_save_load_round_trip_and_input_forms(quick_classifier):
    from zoo.data.mnist import load_mnist_tensors

    path, metadata, root = quick_classifier
    images, labels = load_mnist_tensors(root, train=False)
    images, labels = images[:256], labels[:256]
    loaded = load_mnist_classifier(path)
    assert loaded.metadata["test_accuracy"] == metadata["test_accuracy"]
    assert not loaded.training
    again = load_mnist_classifier(path)
    predictions = loaded.predict(images)
    assert torch.equal(predictions, again.predict(images))
    assert predictions.shape == (256,) and (predictions == labels).float().mean() > 0.5
    assert torch.equal(loaded.predict(F.pad(images, (2, 2, 2, 2))), predictions)  # 32×32 padded MNIST
    assert torch.equal(loaded.predict(images * 2 - 1, value_range=(-1, 1)), predictions)
    with torch.no_grad():
        assert loaded.features(images[:5]).shape == (5, MNISTClassifier.num_features)
        assert loaded.logits(images[:5]).shape == (5, 10)
    stacked = torch.cat([images[:8], images[8:16], images[16:24]], dim=1)  # Stacked MNIST: one digit per channel
    per_channel = loaded.predict_channels(stacked)
    assert per_channel.shape == (8, 3)
    assert torch.equal(per_channel[:, 1], predictions[8:16])


def test_missing_classifier_is_one_line(tmp_path):
    with pytest.raises(ZooWeightsError) as caught:
        load_mnist_classifier(tmp_path / "nothing.pt")
    assert "\n" not in str(caught.value) and "zoo train-classifier mnist" in str(caught.value)


def test_classifier_fid_and_is_need_no_inception(quick_classifier):
    from zoo.data.mnist import load_mnist_tensors

    path, _, root = quick_classifier
    images, labels = load_mnist_tensors(root, train=False)
    real, other = images[:300], images[300:600]
    ones = images[labels == 1][:300]
    same = mnist_fid(other, real, classifier_path=str(path))
    collapsed = compute_fid(ones, real, feature_extractor="mnist-classifier", weights_path=str(path))
    assert 0 <= same["value"] < collapsed["value"]
    assert same["weights_sha256"] == load_mnist_classifier(path).metadata["weights_sha256"]
    assert same["feature_extractor"].startswith("mnist-classifier-features")
    varied = mnist_inception_score(other, classifier_path=str(path), splits=1)
    single = compute_inception_score(ones, feature_extractor="mnist-classifier", weights_path=str(path), splits=1)
    assert 1.0 <= single["value"] < varied["value"] <= 10.0


class Replay(torch.nn.Module):
    """A 'generator' that returns fixed images in turn across calls, whatever the code."""

    def __init__(self, images):
        super().__init__()
        self.register_buffer("images", images)
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # the harness reads the weights' device
        self.served = 0

    def forward(self, z):
        index = (self.served + torch.arange(len(z))) % len(self.images)
        self.served += len(z)
        return self.images[index]


def test_mnist_digit_modes_through_the_harness(quick_classifier):
    from tests.conftest import tiny_vanilla
    from zoo.data.mnist import MNISTDataModule, load_mnist_tensors
    from zoo.eval.harness import evaluate

    path, _, root = quick_classifier
    images, labels = load_mnist_tensors(root, train=False)
    data = MNISTDataModule(data_root=str(root))
    model = tiny_vanilla(data_shape=(1, 28, 28))
    scores = {}
    for name, chosen in (("varied", images[:2000]), ("ones", images[labels == 1][:500])):
        model.generator = Replay(chosen.reshape(len(chosen), 1, 28, 28))
        scores[name] = evaluate(model, data, ["modes"], num_samples=1000, weights_path=str(path))["modes"]
    predicted = load_mnist_classifier(path).predict(images[:1000].reshape(-1, 1, 28, 28))
    assert scores["varied"]["histogram"] == torch.bincount(predicted, minlength=10).tolist()
    assert scores["varied"]["modes_covered"] == 10 and scores["varied"]["num_modes"] == 10
    assert scores["ones"]["modes_covered"] < 10
    assert scores["varied"]["kl_to_uniform"] < 0.2 < 1.5 < scores["ones"]["kl_to_uniform"] <= scores["ones"]["max_kl"]


def test_stacked_mnist_modes_through_the_harness(quick_classifier):
    from tests.conftest import tiny_vanilla
    from zoo.data.mnist import load_mnist_tensors
    from zoo.data.stacked_mnist import StackedMNISTDataModule
    from zoo.eval.harness import evaluate
    from zoo.eval.stacked_modes import mode_histogram

    path, _, root = quick_classifier
    digits = F.pad(load_mnist_tensors(root, train=False)[0][:900].reshape(900, 1, 28, 28), (2, 2, 2, 2)) * 2 - 1
    varied = torch.cat([digits[0:300], digits[300:600], digits[600:900]], dim=1)  # 300 images, one digit per channel
    repeated = varied[:1].expand(300, -1, -1, -1).clone()
    data = StackedMNISTDataModule(data_root=str(root))  # value range (-1, 1), padded to 32×32
    model = tiny_vanilla(data_shape=(3, 32, 32))
    scores = {}
    for name, images in (("varied", varied), ("repeated", repeated)):
        model.generator = Replay(images)
        scores[name] = evaluate(model, data, ["modes"], num_samples=300, weights_path=str(path))["modes"]
    read = load_mnist_classifier(path).predict_channels(varied, (-1.0, 1.0))
    assert scores["varied"]["num_modes"] == 1000
    assert scores["varied"]["modes_covered"] == int((mode_histogram(read) > 0).sum()) > 100
    assert scores["repeated"]["modes_covered"] == 1
    assert scores["repeated"]["kl_to_uniform"] == pytest.approx(math.log(1000))
