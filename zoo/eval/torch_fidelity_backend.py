"""The torch-fidelity backend of :mod:`zoo.eval.fidelity`: FID, KID, IS and precision/recall.

torch-fidelity keeps its own cache of real features (under ``<cache_dir()>/torch-fidelity``, same key as
the torchmetrics backend) plus a small JSON record of the number of real images, written here.
"""

from __future__ import annotations

import json

import torch
from torch import Tensor

from zoo.errors import ZooDataError, require
from zoo.eval.image_sources import iterate_batches, pick_device, resolve_real, statistics_path
from zoo.eval.inception import LayerOf


def _as_uint8_or_unit_tensor(source, limit, batch_size, extractor, value_range) -> Tensor:
    batches = [extractor.prepare(images, value_range) for images in iterate_batches(source, limit, batch_size)]
    require(len(batches) > 0, "an image source gave no images")
    return torch.cat(batches)


class _TensorDataset(torch.utils.data.Dataset):
    def __init__(self, images: Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Tensor:
        return self.images[index]


class _UnreadableDataset(torch.utils.data.Dataset):
    """Stands for real images whose features torch-fidelity has cached; reading it means the cache is broken."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __len__(self) -> int:
        raise ZooDataError(self.message)

    def __getitem__(self, index: int) -> Tensor:
        raise ZooDataError(self.message)


def _register_module_extractor() -> str:
    """Register (once) a torch-fidelity extractor that wraps the zoo's custom module, passed as a kwarg."""
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    class ZooModuleExtractor(FeatureExtractorBase):
        def __init__(self, name, features_list, zoo_module=None, **kwargs):
            super().__init__(name, features_list)
            self.zoo_module = zoo_module

        def forward(self, images):
            return tuple(LayerOf(self.zoo_module, name)(images) for name in self.features_list)

        @staticmethod
        def get_provided_features_list():
            return "features", "logits"

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return "logits" if metric == "isc" else "features"

        @staticmethod
        def can_be_compiled():
            return False

    if "zoo-module" not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor("zoo-module", ZooModuleExtractor)
    return "zoo-module"


def torch_fidelity_metrics(metrics: dict, fake, real, extractor, n_fake, n_real, cache_key, value_range, batch_size, device,
                    seed: int, **options) -> tuple[dict, int | None, int]:
    from torch_fidelity import calculate_metrics

    device = pick_device(device)
    kwargs = dict(metrics, cuda=device.type == "cuda", batch_size=batch_size, verbose=False, save_cpu_ram=True,
                  rng_seed=seed, cache=False, **options)
    if extractor.is_inception:
        kwargs.update(feature_extractor="inception-v3-compat", feature_extractor_weights_path=str(extractor.weights),
                      **{f"feature_layer_{metric}": extractor.layer for metric in ("fid", "kid", "prc", "isc")})
    else:
        kwargs.update(feature_extractor=_register_module_extractor(), zoo_module=extractor.module.module.eval())
    fakes = _as_uint8_or_unit_tensor(fake, n_fake, batch_size, extractor, value_range)
    kwargs["input1"] = _TensorDataset(fakes)
    real_count = None
    if kwargs.get("fid") or kwargs.get("kid") or kwargs.get("prc"):
        kind = "fid" if kwargs.get("fid") else "features"  # torch-fidelity caches FID statistics or raw features
        record = None
        if cache_key:
            record = statistics_path(cache_key, extractor, n_real, kind, "torch-fidelity").with_suffix(".json")
            kwargs.update(cache=True, cache_root=str(record.parent), input2_cache_name=record.stem[: -len(kind) - 1])
        if record is not None and record.exists():
            real_count = json.loads(record.read_text())["n_real"]
            kwargs["input2"] = _UnreadableDataset(f"torch-fidelity's cache for {record.stem} is bad: delete {record}")
        else:
            reals = _as_uint8_or_unit_tensor(resolve_real(real), n_real, batch_size, extractor, value_range)
            kwargs["input2"], real_count = _TensorDataset(reals), len(reals)
        if "kid_subset_size" in kwargs:
            kwargs["kid_subset_size"] = min(kwargs["kid_subset_size"], len(fakes), real_count)
        result = calculate_metrics(**kwargs)
        if record is not None and not record.exists():
            record.write_text(json.dumps({"n_real": real_count}))
    else:
        result = calculate_metrics(**kwargs)
    return result, real_count, len(fakes)
