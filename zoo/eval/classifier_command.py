"""``zoo train-classifier mnist``: train the MNIST domain classifier once and cache it.

MNIST runs then get FID/IS/KID on the classifier's features without Inception weights, and
Stacked-MNIST mode counting can label each channel.
"""

from __future__ import annotations

import argparse
import json

from zoo.eval.classifier import default_classifier_path, train_mnist_classifier


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="zoo train-classifier", description="Train and cache a domain classifier.")
    parser.add_argument("dataset", choices=["mnist"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=None, help="folder holding MNIST/ (else $ZOO_DATA)")
    parser.add_argument("--out", default=None, help=f"where to save it (default {default_classifier_path()})")
    args = parser.parse_args(argv)
    record = train_mnist_classifier(args.data_root, epochs=args.epochs, seed=args.seed, out_path=args.out)
    print(json.dumps(record, indent=2, default=str))
    return 0
