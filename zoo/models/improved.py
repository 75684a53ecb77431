"""Semi-supervised GAN — Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016, §5.

D is a classifier with K + 1 outputs, the (K+1)-th ("generated") logit fixed at 0, so it returns K
logits l and D(x) = Z(x)/(Z(x) + 1) with Z = Σ_k exp l_k. D minimises

    L = L_supervised + w · L_unsupervised,
    L_supervised   = −E_{(x,y) labelled} log p(y | x, y < K+1)                      (cross-entropy)
    L_unsupervised = −E_{x unlabelled} log D(x) − E_z log(1 − D(G(z)))

and G matches the batch mean of D's last hidden layer on unlabelled data (feature matching, §3.1).
The MNIST recipe follows the released code (``train_mnist_feature_matching.py`` and its ``nn.py``):

* G: z ~ U[0, 1)^100 → 500 softplus → 500 softplus, batch norm (shift only, no learned scale)
  before each → 784 sigmoid, weight-normalised with a learned scale starting at 1; Glorot weights;
* D: Gaussian noise σ 0.3 on the input, then weight-normalised ReLU layers 1000-500-250-250-250,
  each followed by noise σ 0.5, then 10 weight-normalised logits; no batch norm. Directions start
  N(0, 0.1); a data-dependent initialisation on 500 training images gives every layer unit-variance
  outputs; afterwards only the logit layer learns its scale g, the hidden layers' g stay fixed;
* Adam, learning rate 0.003, β1 0.5, batch 100 (labelled and unlabelled each), 300 epochs; the
  code's Adam puts ε under the square root (``optimizer="adam_sqrt_eps"``,
  :mod:`zoo.core.optimizers`), which slows the weights whose gradients stay below 1e-4: most of G's
  second hidden layer (measured at the start of training: median RMS gradient 4e-5);
* the code weights L_unsupervised by w = ½ and matches features by the mean squared difference;
* test error is measured with an exponential moving average of D's parameters (rate 1e-4) that
  starts, as the code's, at 0 for every trainable parameter, without bias correction. Weight norm
  makes D's directions indifferent to the missing correction, and D's random initialisation stays
  out of the average (started at D's initial parameters, the average would still weigh them by
  0.9999^t: 94 % after the first epoch's 600 updates).

Differences from the code: the unlabelled set is the 60k minus the labelled images (the code uses
all 60k); G's feature targets come from the same unlabelled batch as D's, where the code draws a
second one (``--data.init_args.second_unlabelled_batch true`` does as the code does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from zoo.core import TwoPlayerGAN
from zoo.core.ema import GeneratorEMA
from zoo.data.semisupervised import GENERATOR_TARGETS
from zoo.errors import require
from zoo.nets.semisupervised import SemiSupervisedMNISTDiscriminator, SemiSupervisedMNISTGenerator
from zoo.nets.tricks import weight_norm_data_init_
from zoo.objectives.improved import feature_matching_loss, supervised_loss, unsupervised_discriminator_loss

DATA_INIT_EXAMPLES = 500
G_INIT_SAMPLES = 100  # the first code initialised G's output layer on one batch of its own noise


class SemiSupervisedGAN(TwoPlayerGAN):
    """The K + 1-class semi-supervised GAN with feature matching; defaults: the MNIST recipe.

    Expects the training batches of :class:`zoo.data.semisupervised.SemiSupervisedMNISTDataModule`
    (dicts with ``unlabelled``, ``labelled`` and ``label``) and ``(x, y)`` validation/test batches,
    on which it logs D's classification error: ``<split>/error`` (a rate) and ``<split>/errors``
    (a count, the unit of the paper's Table 1).

    Args:
        num_classes: K.
        g_hidden, d_hidden: layer widths.
        g_output: G's last activation: ``"sigmoid"`` (the released code) or ``"softplus"`` (a stated
            deviation, ``configs/improved/mnist_100_softplus.yaml``).
        input_noise, hidden_noise: σ of D's Gaussian noise on its input and after each hidden layer.
        unsupervised_weight: w above (½ in the released code).
        feature_matching_norm, feature_matching_reduction: see
            :func:`zoo.objectives.improved.feature_matching_loss` (the MNIST code: l2, mean).
        data_init: data-dependent initialisation of D's weight-normalised layers at the start of fit.
        g_output_init: G's output scale: ``"unit"`` (g = 1, the released code's ``l2normalize``) or
            ``"data"`` (each output unit centred and all divided by one scale on a batch of G's own
            noise at the start of fit, as the first committed code's ``WeightNormLayer``).
        d_average_decay: decay of the moving average of D used for evaluation (``None``: evaluate D).
        **kwargs: the training options of :class:`zoo.core.TwoPlayerGAN`.
    """

    def __init__(
        self,
        data_shape: Sequence[int] = (1, 28, 28),
        num_classes: int = 10,
        latent_dim: int = 100,
        g_hidden: Sequence[int] = (500, 500),
        g_output: Literal["sigmoid", "softplus"] = "sigmoid",
        d_hidden: Sequence[int] = (1000, 500, 250, 250, 250),
        input_noise: float = 0.3,
        hidden_noise: float = 0.5,
        unsupervised_weight: float = 0.5,
        feature_matching_norm: Literal["l2", "l1"] = "l2",
        feature_matching_reduction: Literal["sum", "mean"] = "mean",
        data_init: bool = True,
        g_output_init: Literal["unit", "data"] = "unit",
        d_average_decay: float | None = 0.9999,
        prior: Literal["normal", "uniform"] = "uniform",
        prior_low: float = 0.0,
        prior_high: float = 1.0,
        optimizer: Literal["adam", "sgd", "adam_sqrt_eps"] = "adam_sqrt_eps",
        g_lr: float = 0.003,
        d_lr: float = 0.003,
        betas: tuple[float, float] = (0.5, 0.999),
        **kwargs: Any,
    ) -> None:
        require(num_classes >= 2, f"model.num_classes must be >= 2, got {num_classes}")
        require(unsupervised_weight >= 0, f"model.unsupervised_weight must be >= 0, got {unsupervised_weight}")
        require(g_output_init in ("unit", "data"), f"model.g_output_init must be unit or data, got {g_output_init!r}")
        generator = SemiSupervisedMNISTGenerator(latent_dim, data_shape, g_hidden, g_output)
        discriminator = SemiSupervisedMNISTDiscriminator(data_shape, num_classes, d_hidden, input_noise, hidden_noise)
        super().__init__(
            generator, discriminator, latent_dim=latent_dim, prior=prior, prior_low=prior_low, prior_high=prior_high,
            optimizer=optimizer, g_lr=g_lr, d_lr=d_lr, betas=betas, **kwargs,
        )
        self.d_average = GeneratorEMA(discriminator, d_average_decay) if d_average_decay is not None else None
        self._labelled: tuple[Tensor, Tensor] | None = None
        self._generator_targets: Tensor | None = None

    # ------------------------------------------------------------------------------ training
    def real_batch(self, batch: Any) -> Tensor:
        """A training batch is a dict: its unlabelled images are the players' real data, and its
        labelled part goes alongside to D's supervised loss. Other batches are ``(x, y)``."""
        if isinstance(batch, dict):
            self._labelled = (batch["labelled"], batch["label"])
            self._generator_targets = batch.get(GENERATOR_TARGETS)
            return batch["unlabelled"]
        return super().real_batch(batch)

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        require(self._labelled is not None, "SemiSupervisedGAN needs labelled batches: use SemiSupervisedMNISTDataModule")
        labelled, labels = self._labelled
        # D has no batch-dependent layer, so one pass over the three batches equals three passes.
        logits = self.discriminator(torch.cat([labelled, real, fake]))
        labelled_logits, real_logits, fake_logits = logits.split([len(labelled), len(real), len(fake)])
        supervised = supervised_loss(labelled_logits, labels)
        unsupervised = unsupervised_discriminator_loss(real_logits, fake_logits)
        self._note_loss("train/supervised_loss", supervised)  # logged on the steps a logger writes
        self._note_loss("train/unsupervised_loss", unsupervised)
        self._note_loss("train/labelled_error", (labelled_logits.argmax(dim=1) != labels).float().mean())
        return supervised + self.hparams.unsupervised_weight * unsupervised

    def generator_loss(self, fake: Tensor, real: Tensor) -> Tensor:
        """Feature matching against ``real``, or against the batch's own G targets where it has them."""
        targets = real if self._generator_targets is None else self._generator_targets
        with torch.no_grad():
            real_features = self.discriminator.logits_and_features(targets)[1]
        fake_features = self.discriminator.logits_and_features(fake)[1]
        return feature_matching_loss(
            real_features, fake_features, self.hparams.feature_matching_norm, self.hparams.feature_matching_reduction
        )

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.d_average is not None:  # one training step is one D update
            self.d_average.update(self.discriminator)

    def on_fit_start(self) -> None:
        if self.generator_steps > 0:  # resumed: D and its average come from the checkpoint
            return
        datamodule = getattr(self.trainer, "datamodule", None)
        if self.hparams.data_init and datamodule is not None:
            images = datamodule.split_tensors("train")[:DATA_INIT_EXAMPLES].to(self.device)
            weight_norm_data_init_(self.discriminator, images)
        if self.hparams.g_output_init == "data":
            weight_norm_data_init_(self.generator, self.sample_noise(G_INIT_SAMPLES), per_unit_scale=False)
        if self.d_average is not None:
            self._start_average_at_zero()

    @torch.no_grad()
    def _start_average_at_zero(self) -> None:
        """D's average as the released code starts it: 0 for what D trains, D's own value for what it keeps fixed."""
        for averaged, current in zip(self.d_average.shadow.parameters(), self.discriminator.parameters()):
            averaged.copy_(torch.zeros_like(current) if current.requires_grad else current)

    # ---------------------------------------------------------------------------- evaluation
    def classify(self, x: Tensor, averaged: bool = True) -> Tensor:
        """D's K-class prediction for ``x``: the averaged D's when kept (the paper's), else (or with
        ``averaged=False``) the current D's."""
        averaged = averaged and self.d_average is not None
        classifier = self.d_average.shadow if averaged else self.discriminator
        return classifier(x).argmax(dim=1)

    def classification_errors(self, x: Tensor, labels: Tensor, averaged: bool = True) -> Tensor:
        """How many of ``x`` :meth:`classify` gets wrong."""
        return (self.classify(x, averaged) != labels).sum()

    def _evaluate(self, batch: tuple[Tensor, Tensor], prefix: str) -> None:
        x, labels = batch
        errors = self.classification_errors(x, labels).float()
        self.log(f"{prefix}/error", errors / len(labels), batch_size=len(labels), sync_dist=True)
        self.log(f"{prefix}/errors", errors, batch_size=len(labels), reduce_fx="sum", sync_dist=True)
        if self.d_average is not None:  # the average lags D by ~1/(1 − decay) steps: both curves tell why it moves
            current = self.classification_errors(x, labels, averaged=False).float()
            self.log(f"{prefix}/errors_current_d", current, batch_size=len(labels), reduce_fx="sum", sync_dist=True)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")
