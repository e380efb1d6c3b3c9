"""Coat debiasing benchmark: the built-in models on Coat's random test set, timed.

Prints each model's metrics next to the published MF results of Schnabel et al.
("Recommendations as Treatments", ICML 2016, Table 2: MF-Naive MSE 1.202, MF-IPS MSE 1.093)
and the wall-clock time of the whole run. Usage::

    python benchmarks/coat_debiasing.py --data-dir ../shared/data/coat [--seeds 0 1 2]
        [--guide normal]
"""

from __future__ import annotations

import argparse
import time

import causalrec_pyro as cr
from causalrec_pyro.cli import format_table
from causalrec_pyro.experiments import fit_models

PUBLISHED_MSE = {"MF-Naive (Schnabel et al. 2016)": 1.202, "MF-IPS (Schnabel et al. 2016)": 1.093}


def main(args) -> dict:
    data = cr.load_coat(args.data_dir)
    runs = {}
    for seed in args.seeds:
        started = time.perf_counter()
        results = fit_models(
            data, args.models, seed=seed, progress=False, device=args.device, guide=args.guide
        )
        seconds = time.perf_counter() - started
        print(f"seed {seed}: whole run {seconds:.0f} s")
        print(format_table(results))
        runs[seed] = results
    print("\nMean MSE over seeds:")
    for name in args.models:
        values = [runs[seed][name]["mse"] for seed in args.seeds]
        print(
            f"  {name:<8} {sum(values) / len(values):.4f}  (per seed: "
            + ", ".join(f"{v:.4f}" for v in values)
            + ")"
        )
    for label, value in PUBLISHED_MSE.items():
        print(f"  {label}: {value}")
    return runs


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/coat", help="Coat folder")
    parser.add_argument("--models", nargs="+", default=["mf", "mf-ips", "mnar"], help="models")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="random seeds")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda or auto")
    parser.add_argument(
        "--guide",
        choices=("normal", "delta", "lowrank"),
        default=None,
        help="guide of every model (default: each recipe's own)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
