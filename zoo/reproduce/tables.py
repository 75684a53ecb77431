"""The paper tables ``zoo reproduce`` knows: each row is a config, a Parzen protocol and the
paper's value ± error. Budgets are stated here, next to the rows they bound."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from zoo.errors import ZooConfigError
from zoo.objectives.divergences import DIVERGENCES


@dataclass(frozen=True)
class Budget:
    """How long a row trains: ``max_epochs`` (and at most ``train_batches`` per epoch, if set)."""

    max_epochs: int
    train_batches: int | None = None

    def overrides(self) -> list[str]:
        args = ["--trainer.max_epochs", str(self.max_epochs)]
        if self.train_batches is not None:
            args += ["--trainer.limit_train_batches", str(self.train_batches)]
        return args


@dataclass(frozen=True)
class Row:
    """One trained row of a table."""

    name: str
    config: str
    paper_mean: float | None
    paper_stderr: float | None
    budget: Budget
    paper_budget: str = ""
    extra: tuple[str, ...] = ()
    seed_offset: int = 0  # the row trains and is scored at the table's seed plus this

    def seed(self, table_seed: int) -> int:
        return table_seed + self.seed_offset


@dataclass(frozen=True)
class ParzenTable:
    """A table of Parzen log-likelihoods on MNIST, with its real-data ceiling row."""

    name: str
    title: str
    citation: str
    protocol: str
    rows: tuple[Row, ...]
    real_row_label: str = "KDE of real MNIST train images"
    real_paper: tuple[float, float] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    curve_every_epochs: int = 5


QUICK_BUDGET = Budget(max_epochs=1, train_batches=2)
QUICK_SAMPLES = 512
QUICK_REAL_CENTRES = 2000
QUICK_TEST_POINTS = 1000

GAN2014_TABLE1 = ParzenTable(
    name="gan2014-table1",
    title="Goodfellow et al. (2014), Table 1: Parzen log-likelihood on MNIST test",
    citation="Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014, Table 1 (MNIST column)",
    protocol="gan2014",
    rows=(
        # 600 epochs ended at 205.6, still rising (+9.1 over the last quarter against a spread of 5.3): on to 1000;
        # 1000 ended at 216.3, still rising (+10.7 over the last 400 epochs): on to 1500.
        # 1325 gave 218.4, still rising at +11.8 per doubling of training, which puts 225 near 2000: on to 2000.
        Row("Adversarial nets (released code's recipe)", "configs/vanilla/mnist_released.yaml", 225.0, 2.0, Budget(max_epochs=2000),
            paper_budget="the released code trains until stopped by hand (hundreds of epochs)"),
        # The released recipe's budget, to compare the two curves over one budget.
        Row("Adversarial nets (paper's Algorithm 1, k = 1)", "configs/vanilla/mnist.yaml", 225.0, 2.0, Budget(max_epochs=2000),
            paper_budget="the released code trains until stopped by hand (hundreds of epochs)"),
    ),
    notes=(
        "The released recipe (configs/vanilla/mnist_released.yaml) differs from Algorithm 1 in two places: "
        "D's cost is ½[cost(real) + cost(fake)], and both players' gradients come from one minibatch and one "
        "shared fake batch and are applied in one update.",
        "Compare the two rows' learning curves over the epochs both reached.",
    ),
)

# Nowozin et al. (2016), Table 4, transcribed from the lecture (../shared/papers/gan-lecture.md, "f-GAN results").
FGAN_PAPER_VALUES = {
    "kl": (416.0, 5.62), "reverse_kl": (319.0, 8.36), "pearson": (429.0, 5.53), "neyman": (300.0, 8.33),
    "squared_hellinger": (-708.0, 18.1), "jeffrey": (-2101.0, 29.9), "js": (367.0, 8.19), "gan": (305.0, 8.97),
}
FGAN_DIVERGENCES = ("gan", "kl", "reverse_kl", "js", "jeffrey", "pearson", "neyman", "squared_hellinger", "total_variation")


# Jensen-Shannon's F is GAN's plus the constant 2 log 2: at the same seed its run repeats the GAN row
# exactly, so it trains at the next seed and the two rows show the run-to-run spread (the paper's
# 367 and 305 are the same objective too).
FGAN_SEED_OFFSETS = {"js": 1}


def _fgan_rows(budget: Budget, extra: tuple[str, ...] = (), raised: dict[str, Budget] | None = None) -> tuple[Row, ...]:
    """One row per divergence under ``budget``, or under ``raised[name]`` for a row whose curve needed more."""
    return tuple(
        Row(DIVERGENCES[name].label, f"configs/fgan/mnist_{name}.yaml", *FGAN_PAPER_VALUES.get(name, (None, None)),
            (raised or {}).get(name, budget), paper_budget="one hour of wall-clock training per divergence on a 2016 GPU",
            extra=extra, seed_offset=FGAN_SEED_OFFSETS.get(name, 0))
        for name in FGAN_DIVERGENCES
    )


FGAN_NOTES = ("Paper values are transcribed from the lecture's copy of Table 4; total variation is not in the paper's "
              "table (an extra row here). The paper's VAE row (445 ± 5.36) has no zoo counterpart.",
              "The GAN and Jensen-Shannon objectives differ by the constant 2 log 2 (Table 2's g_f and f*): at one seed "
              "the two rows would train identically, so Jensen-Shannon trains at the table's seed + 1 and the gap "
              "between the two rows is a run-to-run spread.")
FGAN_TABLE4 = ParzenTable(
    name="fgan-table4",
    title="Nowozin et al. (2016), Table 4: kernel density estimates on MNIST test",
    citation="Nowozin, Cseke & Tomioka, f-GAN, NeurIPS 2016, Table 4",
    protocol="fgan",
    # The paper's batch is for GPUs (benchmarks/gpu_suite.sh trains its rows side by side): 100 epochs
    # (1,400 updates) on an H100 left every curve moving, so the budget is 1,000 epochs (14,000
    # updates, nearer the paper's hour of a 2016 GPU) and a run stops earlier only at --max-time.
    # Jensen-Shannon ended those 1,000 epochs still rising (+95 nats per doubling), and its 2,000 with
    # a plateau (134-165 from update 22,400 on) too short to fill the later half that curve_trend
    # reads: on to 3,000. GAN is the same objective at another seed, still rising the same way where
    # its runs stopped (7,070 updates), so it gets 2,000 for a start.
    rows=_fgan_rows(Budget(max_epochs=1000), raised={"js": Budget(max_epochs=3000), "gan": Budget(max_epochs=2000)}),
    real_row_label="KDE MNIST train (60k)",
    real_paper=(502.0, 5.99),
    notes=FGAN_NOTES,
    curve_every_epochs=20,
)
# A stated deviation for CPUs: at batch 4096 f-GAN is bounded by its number of updates (about 0.6 s
# each on 2 cores); batch 512 makes 8 times as many updates per epoch for the same CPU time.
FGAN_TABLE4_BATCH512 = ParzenTable(
    name="fgan-table4-batch512",
    title="Nowozin et al. (2016), Table 4, trained at batch 512 instead of the paper's 4096 (a CPU deviation)",
    citation="Nowozin, Cseke & Tomioka, f-GAN, NeurIPS 2016, Table 4",
    protocol="fgan",
    # 30 epochs (3,510 updates) left the GAN row climbing fast (−23.0 at epoch 28, −8.1 at 30): 100.
    # At 100 the Kullback-Leibler curve alone still rose (+33.2 against a spread of 25.9): on to 200.
    rows=_fgan_rows(Budget(max_epochs=100), extra=("--data.init_args.batch_size", "512"), raised={"kl": Budget(max_epochs=200)}),
    real_row_label="KDE MNIST train (60k)",
    real_paper=(502.0, 5.99),
    notes=(*FGAN_NOTES, "Deviation: batch 512, not 4096; compare its learning curves with fgan-table4's."),
    curve_every_epochs=2,
)

# A measured deviation: in short probes Algorithm 1's simultaneous step shrank G's spread across z
# within 50 updates, and alternating updates (D's step, then G's against the updated D) did not.
FGAN_TABLE4_ALTERNATING = ParzenTable(
    name="fgan-table4-alternating",
    title="Nowozin et al. (2016), Table 4, at batch 512 with alternating updates instead of Algorithm 1's simultaneous step",
    citation="Nowozin, Cseke & Tomioka, f-GAN, NeurIPS 2016, Table 4",
    protocol="fgan",
    rows=_fgan_rows(Budget(max_epochs=100), extra=("--data.init_args.batch_size", "512", "--model.init_args.update", "alternating")),
    real_row_label="KDE MNIST train (60k)",
    real_paper=(502.0, 5.99),
    notes=(*FGAN_NOTES, "Deviations: batch 512, not 4096, and alternating updates (D, then G against the updated D), "
                        "not Algorithm 1's simultaneous step; compare its learning curves with fgan-table4-batch512's."),
    curve_every_epochs=2,
)

TABLES: dict[str, ParzenTable] = {table.name: table for table in
                                  (GAN2014_TABLE1, FGAN_TABLE4, FGAN_TABLE4_BATCH512, FGAN_TABLE4_ALTERNATING)}
# Every table's kind, by name alone, so that no module imports another (heavy, lazily loaded) to tell
# which options a table takes. Its kind says how its runs split:
#   "parzen":    rows, each its own config, scored by Parzen windows (TABLES above);
#   "steps":     rows × seeds, each run a (row, seed) pair with a budget of steps (the unrolled tables);
#   "seeds":     one config trained at several seeds (zoo.reproduce.improved.TABLES holds their configs);
#   "whole":     trains as one run;
#   "read-only": trains nothing into the run store.
TableKind = Literal["parzen", "steps", "seeds", "whole", "read-only"]
KINDS: dict[str, TableKind] = {
    **{name: "parzen" for name in TABLES},
    "unrolled-mixtures": "steps", "unrolled-stacked-mnist": "steps", "unrolled-stacked-mnist-28": "steps",
    "improved-gan-mnist": "seeds", "improved-gan-mnist-softplus": "seeds", "improved-gan-mnist-first-schedule": "seeds",
    "lapgan-mnist": "whole", "improved-ablation": "whole",
    "fgan-table3": "read-only", "kde-real": "read-only", "unrolled-reconstruction": "read-only",
}
_SPLITS = ("--carry-over", "--no-train", "--jobs")  # every kind whose parts train apart takes these
OPTIONS: dict[TableKind, tuple[str, ...]] = {
    "parzen": ("--rows", *_SPLITS),
    "steps": ("--rows", "--seeds", *_SPLITS),
    "seeds": ("--seeds", "--data-seed", "--up-to-epoch", *_SPLITS),
    "whole": (),
    "read-only": (),
}


def tables_of_kind(kind: TableKind) -> tuple[str, ...]:
    """The names of the tables of ``kind``, in the order they are listed."""
    return tuple(name for name, its_kind in KINDS.items() if its_kind == kind)


def tables_taking(option: str) -> tuple[str, ...]:
    """The names of the tables that take the command-line ``option`` (e.g. ``--seeds``), sorted."""
    return tuple(sorted(name for name, kind in KINDS.items() if option in OPTIONS[kind]))


def check_option(table: str, option: str) -> None:
    """Refuse ``option`` for a table that does not take it, in one line naming those that do."""
    if option not in OPTIONS[KINDS[table]]:
        raise ZooConfigError(f"{option} applies to {', '.join(tables_taking(option))}, not {table}")
