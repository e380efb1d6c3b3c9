"""Coverage of average_effect's credible interval on simulated worlds with a known effect.

Each replicate draws a world from the simulator (``simulate`` with its own seed), fits the
simulator's own SCM to every user-item pair (exposure, rating and click observed) with SVI and a
mean-field normal guide, and checks whether the 90% interval of
E[click | do(exposure=1)] - E[click | do(exposure=0)] contains the world's true effect. The
naive contrast E[click | exposure=1] - E[click | exposure=0] is printed next to it.

Run: ``python benchmarks/effect_coverage.py`` (about 20 fits; see ``--help`` for the sizes).
"""

from __future__ import annotations

import argparse
import time

import torch

from causalrec_pyro import fit_svi, simulate
from causalrec_pyro.causal import average_effect
from causalrec_pyro.data.simulate import simulator_scm


def run_replicate(seed: int, args) -> dict:
    """Simulate, fit and estimate once; return the row of the results table."""
    world = simulate(n_users=args.n_users, n_items=args.n_items, seed=seed)
    pairs = {**world.pairs, "n_users": args.n_users, "n_items": args.n_items}
    started = time.perf_counter()
    posterior = fit_svi(
        simulator_scm(), pairs, num_steps=args.num_steps, lr=args.lr, progress=False, seed=seed
    )
    fit_seconds = time.perf_counter() - started
    effect = average_effect(
        posterior,
        "exposure",
        "click",
        1.0,
        0.0,
        pairs,
        num_samples=args.num_samples,
        seed=seed,
        ci=args.ci,
    )
    return {
        "seed": seed,
        "truth": world.click_effect,
        "naive": world.naive_click_contrast,
        "mean": float(effect.mean),
        "low": float(effect.ci_low),
        "high": float(effect.ci_high),
        "covered": bool(effect.ci_low <= world.click_effect <= effect.ci_high),
        "fit_seconds": fit_seconds,
    }


def main(args) -> int:
    print(
        f"{args.replicates} worlds of {args.n_users} users x {args.n_items} items; SVI "
        f"{args.num_steps} steps, lr {args.lr}; {args.num_samples} draws; {args.ci:.0%} intervals; "
        f"{torch.get_num_threads()} torch threads"
    )
    header = (
        f"{'seed':>4} {'truth':>7} {'naive':>7} {'estimate':>8} {'interval':>18} "
        f"{'covered':>7} {'fit s':>6}"
    )
    print(header)
    print("-" * len(header))
    covered = 0
    for seed in range(args.replicates):
        row = run_replicate(seed, args)
        covered += row["covered"]
        interval = f"[{row['low']:.4f}, {row['high']:.4f}]"
        print(
            f"{row['seed']:>4} {row['truth']:>7.4f} {row['naive']:>7.4f} {row['mean']:>8.4f} "
            f"{interval:>18} {str(row['covered']):>7} {row['fit_seconds']:>6.1f}",
            flush=True,
        )
    print(f"coverage: {covered}/{args.replicates} intervals contain the true effect")
    return 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=20, help="number of simulated worlds")
    parser.add_argument("--n-users", type=int, default=30, help="users per world")
    parser.add_argument("--n-items", type=int, default=20, help="items per world")
    parser.add_argument("--num-steps", type=int, default=800, help="SVI steps per fit")
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate of SVI")
    parser.add_argument("--num-samples", type=int, default=200, help="posterior draws per effect")
    parser.add_argument("--ci", type=float, default=0.9, help="credible interval level, in (0, 1)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main(parse_args()))
