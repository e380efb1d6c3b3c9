"""The ``causalrec`` command: ``demo``, ``fit`` and the query and diagnostic sub-commands."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from pathlib import Path

__all__ = ["main", "build_parser"]

#: Modules whose ``add_commands(subparsers)`` registers more sub-commands.
COMMAND_MODULES = ("causalrec_pyro.causal.commands", "causalrec_pyro.diagnostics.commands")

DATASETS = ("coat", "movielens", "csv")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``causalrec`` command."""
    parser = argparse.ArgumentParser(
        prog="causalrec",
        description="Causal recommendation with Pyro structural causal models.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log the fit summaries (INFO level)"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = subparsers.add_parser(
        "demo",
        help="simulate a confounded world, fit the baseline and the exposure-aware model",
        description="Simulate a recommendation world with self-selected ratings, fit the "
        "matrix factorization baseline and the exposure-aware model, and compare their "
        "predictions for random user-item pairs with the simulator's truth. Needs no files.",
    )
    demo.add_argument("--n-users", type=int, default=300, help="number of simulated users")
    demo.add_argument("--n-items", type=int, default=200, help="number of simulated items")
    _add_fit_options(demo, steps_help="SVI steps per model (default: 1500)", steps_default=1500)
    demo.add_argument("--out", type=Path, default=None, help="run directory to write (optional)")
    demo.set_defaults(func=run_demo)

    fit = subparsers.add_parser(
        "fit",
        help="fit the built-in models to a data set and evaluate them on its test split",
        description="Fit each model on the training ratings, evaluate it on the test split "
        "(for Coat, ratings of items shown at random), print a table, and write "
        "metrics.json and one posterior per model into --out.",
    )
    fit.add_argument("--dataset", choices=DATASETS, required=True, help="data set format")
    fit.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        help="folder of the data set (coat: train.ascii...; movielens: u.data...); for csv, "
        "a CSV file with columns user,item,rating or a folder holding ratings.csv",
    )
    fit.add_argument(
        "--model",
        default=None,
        help="comma-separated models from mf, mf-ips, mnar (default: mf,mnar, plus mf-ips "
        "when the data has propensities)",
    )
    _add_fit_options(fit, steps_help="SVI steps per model (default: each model's own)")
    fit.add_argument("--out", type=Path, required=True, help="run directory to write")
    fit.set_defaults(func=run_fit)

    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.add_commands(subparsers)
    return parser


def _add_fit_options(
    parser: argparse.ArgumentParser, steps_help: str, steps_default: int | None = None
) -> None:
    parser.add_argument("--steps", type=int, default=steps_default, help=steps_help)
    parser.add_argument(
        "--device",
        default="auto",
        help="torch device to fit on: auto (CUDA when available), cpu or cuda",
    )
    parser.add_argument(
        "--guide",
        choices=("normal", "delta", "lowrank"),
        default=None,
        help="posterior approximation of every model: normal (mean-field Gaussian), delta "
        "(MAP point estimate, no posterior spread) or lowrank (Gaussian with correlations); "
        "default: each model's own, delta for mf and mnar and normal for mf-ips",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed of data and fitting")
    parser.add_argument(
        "--no-progress", action="store_true", help="hide the progress bars of fitting"
    )


def _fit_options(args) -> dict:
    """Return the ``fit_models`` keywords that ``demo`` and ``fit`` share: ``--out`` and the
    options of :func:`_add_fit_options`."""
    return {
        "out": args.out,
        "num_steps": args.steps,
        "device": args.device,
        "seed": args.seed,
        "progress": not args.no_progress,
        "guide": args.guide,
    }


def run_fit(args) -> int:
    from causalrec_pyro.experiments import fit_models
    from causalrec_pyro.runs import load_run_data

    info = {"dataset": args.dataset, "data_dir": str(Path(args.data_dir).resolve())}
    if args.dataset == "csv" and Path(args.data_dir).is_dir():
        info["data_dir"] = str((Path(args.data_dir) / "ratings.csv").resolve())
    data = load_run_data({**info, "seed": args.seed})
    if args.model:
        models = [name.strip() for name in args.model.split(",") if name.strip()]
    else:
        models = ["mf"] + (["mf-ips"] if data["train"].propensity is not None else []) + ["mnar"]
    print(f"Data: {data}")
    started = time.perf_counter()
    results = fit_models(data, models, run_info=info, **_fit_options(args))
    print(format_table(results))
    print(
        f"Wrote {args.out / 'metrics.json'} and {len(models)} posterior(s) in "
        f"{time.perf_counter() - started:.0f} s."
    )
    return 0


def run_demo(args) -> int:
    from causalrec_pyro.data.simulate import simulate
    from causalrec_pyro.experiments import fit_models

    started = time.perf_counter()
    world = simulate(n_users=args.n_users, n_items=args.n_items, seed=args.seed)
    train, test = world.data["train"], world.data["test"]
    exposure_rate = len(train) / (world.data.n_users * world.data.n_items)
    print(
        f"Simulated {world.data.n_users} users x {world.data.n_items} items. Users saw "
        f"{exposure_rate:.1%} of the pairs, chosen by their preference and item popularity."
    )
    print(
        f"Mean rating of seen pairs: {train.rating.mean():.2f}; of pairs drawn at random: "
        f"{test.rating.mean():.2f}. Training on what was seen is biased."
    )
    run_info = {
        "dataset": "simulated",
        "simulate": {"n_users": args.n_users, "n_items": args.n_items, "seed": args.seed},
    }
    results = fit_models(
        world.data,
        ["mf", "mnar"],
        run_info=run_info,
        truth=world.expected_rating[test.user, test.item],
        **_fit_options(args),
    )
    print(
        "Scores on the test pairs drawn at random: mse to recall@5 against their simulated "
        "ratings, truth_rmse against their true E[rating]."
    )
    print(format_table(results))
    print("RMSE of each model's predicted mean against the true E[rating] of the random pairs:")
    for name, metrics in results.items():
        print(f"  {name:<6} {metrics['truth_rmse']:.3f}")
    best = min(results, key=lambda name: results[name]["truth_rmse"])
    print(
        f"Found: {best} predicts the expected ratings of items shown at random best "
        "(lowest truth_rmse). "
        f"Took {time.perf_counter() - started:.0f} s."
    )
    return 0


def format_table(results: dict) -> str:
    """Format ``{model: {metric: value}}`` as a plain text table."""
    metrics = [m for m in next(iter(results.values())) if m != "seconds"]
    header = f"{'model':<8}" + "".join(f"{m:>11}" for m in metrics) + f"{'fit s':>8}"
    lines = [header, "-" * len(header)]
    for name, values in results.items():
        row = f"{name:<8}" + "".join(f"{values[m]:>11.4f}" for m in metrics)
        lines.append(row + f"{values.get('seconds', float('nan')):>8.0f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Run the ``causalrec`` command with ``argv`` (default: ``sys.argv[1:]``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, KeyError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"causalrec {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
