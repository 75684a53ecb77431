"""Named Inception-score protocols, and the score of real CIFAR-10 that the paper prints as a reference row.

Salimans et al. (2016, §4, Table 3) score 50,000 samples with the TensorFlow Inception graph of
2015-12-05 and report the mean ± std of the score over 10 splits. Their code (openai/improved-gan,
``inception_score/model.py``) feeds 0..255 images to the graph, which resizes them to 299×299; takes
the softmax of the pool features times the logit weights without the bias (1008 classes); cuts the
predictions into 10 consecutive parts in the order given; and returns numpy's mean and std (ddof 0)
of the 10 scores. :data:`SALIMANS2016` does the same through torch-fidelity's port of that graph
(``weights-inception-2015-12-05-6726825d.pth``, resized with TF 1.x's bilinear filter, as the zoo's
FID) with its shuffling turned off; torchmetrics' IS permutes the samples and takes the unbiased std.

``zoo eval --ckpt … --metrics is --protocol salimans2016`` scores a generator; the real-data row
(CIFAR-10's 50,000 training images in file order; the paper's 11.24 ± .12) is written by::

    python -m zoo.eval.inception_protocols --out results/is_real_cifar10.json [--data-root DIR] [--weights FILE]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo.errors import ZooConfigError, require
from zoo.eval import fidelity
from zoo.eval.inception import FeatureExtractor, resolve_inception_weights

INCEPTION = (
    "TF Inception graph 2015-12-05 as torch-fidelity's port (inception-v3-compat): uint8 RGB, resized to "
    "299×299 inside the network with TF 1.x's bilinear filter; softmax of the 1008 logits without the bias"
)
SPLITS = "consecutive splits in the order the images are given; mean and population std (ddof 0) over splits"


@dataclass(frozen=True)
class InceptionScoreProtocol:
    """How an Inception score is measured: sample count, splits, backend, and the paper's rows."""

    name: str
    n_samples: int
    splits: int
    citation: str
    paper_rows: tuple[tuple[str, float, float], ...]
    backend: str = "torch-fidelity"
    notes: str = ""

    def check(self, metrics: Sequence[str], num_samples: int | None, feature_extractor: Any, weights_path: str | None) -> Path:
        """One-line errors before any sample is drawn; returns the Inception weights file."""
        require(list(metrics) == ["is"], f"--protocol {self.name} is an Inception-score protocol: use it with --metrics is alone")
        require(num_samples in (None, self.n_samples),
                f"protocol {self.name} scores {self.n_samples} samples, got --num-samples {num_samples}; leave it out")
        require(feature_extractor in ("auto", "inception"),
                f"protocol {self.name} uses the 2015-12-05 Inception, got --feature-extractor {feature_extractor}")
        return resolve_inception_weights(weights_path)

    def score(self, images: Tensor, value_range: tuple[float, float], weights_path: str | None = None, batch_size: int = 100,
              device: str | torch.device | None = None, feature_extractor: FeatureExtractor = "inception") -> dict:
        """The IS record of exactly ``n_samples`` images (N×C×H×W in ``value_range``), with the protocol.

        ``feature_extractor`` other than Inception is for tests: the protocol's numbers are Inception's.
        """
        require(len(images) == self.n_samples, f"protocol {self.name} scores {self.n_samples} images, got {len(images)}")
        record = fidelity.compute_inception_score(
            images, feature_extractor=feature_extractor, weights_path=weights_path, backend=self.backend,
            value_range=value_range, n_fake=self.n_samples, splits=self.splits, batch_size=batch_size, device=device,
            shuffle=False,
        )
        weights_file = resolve_inception_weights(weights_path).name if feature_extractor == "inception" else None
        return {**record, "weights_file": weights_file, "protocol": self.name, "protocol_spec": self.to_dict()}

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "n_samples": self.n_samples,
            "splits": self.splits,
            "split_rule": SPLITS,
            "inception": INCEPTION,
            "backend": self.backend,
            "citation": self.citation,
            "paper": [{"row": row, "mean": mean, "std": std} for row, mean, std in self.paper_rows],
            "notes": self.notes,
        }


SALIMANS2016 = InceptionScoreProtocol(
    name="salimans2016",
    n_samples=50_000,
    splits=10,
    citation=(
        "Salimans et al. (2016), Improved Techniques for Training GANs, NeurIPS, §4 and Table 3; "
        "procedure of the authors' inception_score/model.py (github.com/openai/improved-gan)"
    ),
    paper_rows=(
        ("Real data", 11.24, 0.12),
        ("Our methods (semi-supervised, MBD + VBN + label smoothing)", 8.09, 0.07),
        ("-L+HA (no labels, historical averaging)", 6.86, 0.06),
    ),
    notes=(
        "The TF graph scores batches of one since 2018 (commit 0b7ed92); the port's numbers differ slightly "
        "from the TF original, so score real CIFAR-10 too (python -m zoo.eval.inception_protocols)."
    ),
)

IS_PROTOCOLS: dict[str, InceptionScoreProtocol] = {"salimans2016": SALIMANS2016}


def get_is_protocol(name: str) -> InceptionScoreProtocol:
    """The Inception-score protocol registered under ``name`` (one of :data:`IS_PROTOCOLS`)."""
    if name not in IS_PROTOCOLS:
        raise ZooConfigError(f"unknown Inception-score protocol {name!r}; choose one of {sorted(IS_PROTOCOLS)}")
    return IS_PROTOCOLS[name]


def evaluate_protocol(model: Any, datamodule: Any, metrics: Sequence[str] = ("is",), num_samples: int | None = None,
                      seed: int = 0, protocol: str = "salimans2016", feature_extractor: Any = "auto",
                      weights_path: str | None = None, batch_size: int = 500, strategy: Any = None) -> dict[str, dict]:
    """``zoo eval --metrics is --protocol <name>``: the harness's samples (spread over ranks), scored on rank 0."""
    from zoo.eval.harness import Distributed, generate_samples

    chosen = get_is_protocol(protocol)
    chosen.check(metrics, num_samples, feature_extractor, weights_path)
    dist = Distributed(strategy)
    samples = generate_samples(model, chosen.n_samples, seed, batch_size, dist)
    value_range = tuple(getattr(datamodule, "value_range", (0.0, 1.0)))
    record = chosen.score(samples, value_range, weights_path, batch_size) if dist.rank == 0 else None
    return {"is": dist.broadcast(record)}


def real_cifar10_row(protocol: InceptionScoreProtocol | str = SALIMANS2016, data_root: str | Path | None = None,
                     weights_path: str | None = None, batch_size: int = 100, device: str | torch.device | None = None) -> dict:
    """IS of CIFAR-10's 50,000 training images (data_batch_1..5, file order) under ``protocol``."""
    from zoo.data.base import resolve_data_root
    from zoo.data.cifar import CIFAR10_FOLDER, CIFAR10_TRAIN_FILES, check_cifar10_files, read_cifar_split

    protocol = get_is_protocol(protocol) if isinstance(protocol, str) else protocol
    root = resolve_data_root(data_root)
    check_cifar10_files(root)
    resolve_inception_weights(weights_path)  # both one-line errors come before any image is read
    images, _ = read_cifar_split(root / CIFAR10_FOLDER, CIFAR10_TRAIN_FILES)
    record = protocol.score(torch.from_numpy(images), (0.0, 255.0), weights_path, batch_size, device)
    return {**record, "images": f"CIFAR-10 training set, {CIFAR10_FOLDER}/data_batch_1..5 in file order"}


def main(argv: list[str] | None = None) -> None:
    from zoo.provenance import RunStart, compute_device, scrub_paths

    parser = argparse.ArgumentParser(description="Inception score of real CIFAR-10 under a named protocol.")
    parser.add_argument("--protocol", default="salimans2016", help=f"one of {sorted(IS_PROTOCOLS)}")
    parser.add_argument("--out", default="results/is_real_cifar10.json")
    parser.add_argument("--data-root", default=None, help="folder holding cifar-10-batches-py/ (else $ZOO_DATA)")
    parser.add_argument("--weights", default=None, help="Inception weights file (else $ZOO_INCEPTION_WEIGHTS)")
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)
    run = RunStart()
    device = compute_device()
    row = real_cifar10_row(args.protocol, args.data_root, args.weights, args.batch_size, device)
    record = scrub_paths({"command": "python -m zoo.eval.inception_protocols --out " + args.out,
                          **run.provenance(seeds={}, device=device), "result": row})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    paper = next(f"{mean} ± {std}" for name, mean, std in get_is_protocol(args.protocol).paper_rows if name == "Real data")
    print(f"real CIFAR-10 IS {row['value']:.2f} ± {row['std']:.2f} over {row['splits']} splits of {row['n_fake']} "
          f"(paper: {paper}); wrote {out}")


if __name__ == "__main__":
    main()
