"""``zoo latent``: latent walks, numbered sample sheets and vector arithmetic from a checkpoint.

    zoo latent walk --ckpt last.ckpt --steps 10 --rows 8 --mode slerp --out walk.png
    zoo latent sheet --ckpt last.ckpt --n 64 --seed 0 --out sheet.png      # also writes sheet.pt
    zoo latent arithmetic --ckpt last.ckpt --sheet sheet.pt --a 3,7,12 --b 5,9,20 --c 1,2,4 --out arithmetic.png
    zoo latent invert --ckpt last.ckpt --images train:1280 --out invert.png   # also writes invert.json

``--tensorboard DIR`` and ``--wandb PROJECT`` also log the PNGs there; without them nothing is
logged anywhere, only written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.errors import ZooConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo latent", description="Explore a trained generator's latent space (DCGAN §6).")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser, default_out: str) -> None:
        sub.add_argument("--ckpt", required=True, help="checkpoint written by `zoo fit` (…/checkpoints/last.ckpt)")
        sub.add_argument("--out", default=default_out, help=f"PNG to write (default {default_out})")
        sub.add_argument("--seed", type=int, default=0, help="seed of the random codes (default 0)")
        sub.add_argument("--device", default="cpu", help="device to run the generator on (default cpu)")
        sub.add_argument("--no-ema", action="store_true", help="use the raw generator even if the run kept an EMA one")
        sub.add_argument("--tensorboard", metavar="DIR", help="also log the PNG to a TensorBoard folder")
        sub.add_argument("--wandb", metavar="PROJECT", help="also log the PNG to a new W&B run in PROJECT")

    walk = commands.add_parser("walk", help="interpolate between random codes (DCGAN §6.1, Figure 4)")
    common(walk, "walk.png")
    walk.add_argument("--steps", type=int, required=True, help="images per row, endpoints included")
    walk.add_argument("--rows", type=int, default=8, help="number of walks, one per row (default 8)")
    walk.add_argument("--mode", choices=("linear", "slerp"), default="slerp", help="straight line or great circle (default slerp)")

    sheet = commands.add_parser("sheet", help="numbered samples and their codes, to pick exemplars from")
    common(sheet, "sheet.png")
    sheet.add_argument("--n", type=int, default=64, help="number of samples (default 64)")

    arithmetic = commands.add_parser("arithmetic", help="a − b + c on averaged codes (DCGAN §6.3.2, Figure 7)")
    common(arithmetic, "arithmetic.png")
    arithmetic.add_argument("--sheet", help="sheet .pt written by `zoo latent sheet`, for index exemplars")
    for name in ("a", "b", "c"):
        arithmetic.add_argument(f"--{name}", required=True, help=f"concept {name}: sheet indices like 3,7,12, or a .pt file of codes")
    arithmetic.add_argument("--variations", type=int, default=8, help="decodings of the result plus noise (default 8)")
    arithmetic.add_argument("--noise", type=float, default=0.25, help="scale of the uniform noise of the variations (default 0.25)")
    invert = commands.add_parser("invert", help="reconstruct images by optimising z (Unrolled GAN §3.3.2, Table 3)")
    common(invert, "invert.png")
    invert.add_argument("--images", required=True, help="<split>:<n> of the checkpoint's data (e.g. train:1280), or a .pt tensor")
    invert.add_argument("--steps", type=int, default=1000, help="Adam steps on z per image (default 1000)")
    invert.add_argument("--lr", type=float, default=0.01, help="Adam learning rate on z (default 0.01)")
    return parser


def _with_ema_choice(model, no_ema: bool):
    if no_ema:
        model.ema = None
    return model


def _invert(model, datamodule, args: argparse.Namespace, out: Path) -> Path | None:
    """Codes and errors of the images, a JSON record next to ``out``, and (for images) the worst
    reconstructions as ``out``."""
    from zoo.latent.invert import invert, save_reconstructions, select_images, write_record
    from zoo.provenance import RunStart

    run = RunStart()
    images, source = select_images(datamodule, args.images, args.seed)
    codes, errors = invert(model, images, args.steps, args.lr, args.seed)
    settings = {"steps": args.steps, "lr": args.lr, "value_range": list(datamodule.value_range), "ema": model.ema is not None}
    record = write_record(out.with_suffix(".json"), errors, source, settings,
                          run.provenance(seeds={"images_and_start_codes": args.seed}, device=args.device))
    print(f"mean squared error {errors.mean():.5f} over {len(errors)} images; wrote {record}")
    return save_reconstructions(model, images, codes, errors, out, datamodule.value_range) if images.dim() == 4 else None


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from zoo.checkpoints import load_gan, load_run
    from zoo.latent.arithmetic import load_codes, save_arithmetic, save_sample_sheet, select_codes
    from zoo.latent.loggers import log_png_outside_training
    from zoo.latent.walk import save_latent_walk

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ZooConfigError(f"--out must name a .png file, got {args.out}")
    if args.command == "arithmetic":  # check the exemplars before the (slower) checkpoint load
        sheet = load_codes(args.sheet) if args.sheet else None
        concepts = {name: select_codes(getattr(args, name), sheet, name) for name in ("a", "b", "c")}
    if args.command == "invert":  # the images come from the data the checkpoint trained on
        model, datamodule = load_run(args.ckpt, map_location=args.device)
    else:
        model = load_gan(args.ckpt, map_location=args.device)
    model = _with_ema_choice(model, args.no_ema)

    written: dict[str, Path] = {}
    if args.command == "walk":
        written["latent/walk"] = save_latent_walk(model, out, args.steps, args.rows, args.mode, args.seed)
    elif args.command == "sheet":
        png, codes = save_sample_sheet(model, out, args.n, args.seed)
        written["latent/sheet"] = png
        print(f"codes: {codes}")
    elif args.command == "invert":
        png = _invert(model, datamodule, args, out)
        if png is not None:
            written["latent/invert"] = png
    else:
        written["latent/arithmetic"] = save_arithmetic(
            model, out, concepts["a"], concepts["b"], concepts["c"], args.variations, args.noise, args.seed
        )
    for path in written.values():
        print(f"wrote {path}")
    for destination in log_png_outside_training(written, args.tensorboard, args.wandb):
        print(f"logged to {destination}")
    return 0
