"""Time counterfactual and average_effect over all 100,000 MovieLens 100K ratings.

Fits matrix factorization briefly on the training split (the fit is not timed: the queries'
cost does not depend on how well the model fits), then times two queries on every rating of
both splits with 200 posterior draws:

* ``counterfactual``: each rating had the movie been of average quality,
  ``do(item_quality = 0)``, with the rating's noise abducted from the observed rating;
* ``average_effect``: ``E[rating | do(item_quality = 1)] - E[rating | do(item_quality = 0)]``
  per user gender. The model is linear in item quality, so every draw's effect is exactly 1,
  which the script checks.

Draws are traced in chunks (about four million draw-rating pairs each) to bound memory.
Run: ``python benchmarks/movielens_queries.py --data-dir ../shared/data/ml-100k``.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import time

import torch

from causalrec_pyro import Split, fit_svi, load_movielens, matrix_factorization
from causalrec_pyro.causal import average_effect, counterfactual


def all_ratings(data) -> Split:
    """Return one split holding the rows of the train and test splits."""
    train, test = data["train"], data["test"]
    columns = {}
    for name in ("user", "item", "rating", "timestamp"):
        first, second = getattr(train, name), getattr(test, name)
        columns[name] = None if first is None else torch.cat([first, second])
    return dataclasses.replace(train, name="all", **columns)


def main(args) -> dict:
    started = time.perf_counter()
    data = load_movielens(args.data_dir)
    ratings = all_ratings(data)
    print(
        f"Loaded {len(ratings)} ratings in {time.perf_counter() - started:.1f} s; "
        f"{torch.get_num_threads()} torch threads."
    )

    started = time.perf_counter()
    posterior = fit_svi(
        matrix_factorization(),
        data["train"],
        num_steps=args.num_steps,
        lr=0.05,
        progress=False,
        seed=args.seed,
    )
    print(
        f"Fitted matrix factorization with {args.num_steps} SVI steps in "
        f"{time.perf_counter() - started:.1f} s (not timed below)."
    )

    timings = {}
    started = time.perf_counter()
    draws = counterfactual(
        posterior,
        ratings,
        {"item_quality": 0.0},
        "rating",
        num_samples=args.num_samples,
        seed=args.seed,
    )
    timings["counterfactual"] = time.perf_counter() - started

    started = time.perf_counter()
    effect = average_effect(
        posterior,
        "item_quality",
        "rating",
        1.0,
        0.0,
        ratings,
        by="gender",
        num_samples=args.num_samples,
        seed=args.seed,
    )
    timings["average_effect"] = time.perf_counter() - started

    if draws.shape != (args.num_samples, len(ratings)):
        raise RuntimeError(f"counterfactual returned shape {tuple(draws.shape)}")
    if not torch.allclose(effect.draws, torch.ones_like(effect.draws), atol=1e-4):
        raise RuntimeError(f"the effect of item quality should be 1, got {effect.mean}")

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'query':<16}{'ratings':>9}{'draws':>7}{'seconds':>9}")
    for name, seconds in timings.items():
        print(f"{name:<16}{len(ratings):>9}{args.num_samples:>7}{seconds:>9.1f}")
    print(f"total {sum(timings.values()):.1f} s; peak resident memory {peak_mb:.0f} MB")
    print(
        f"mean change of a rating under do(item_quality=0): "
        f"{(draws.mean(0) - ratings.rating).mean():.3f}"
    )
    print(effect.to_frame().to_string(float_format=lambda value: f"{value:.4f}"))
    return timings


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", default="../shared/data/ml-100k", help="folder of the unpacked ml-100k"
    )
    parser.add_argument("--num-steps", type=int, default=20, help="SVI steps of the brief fit")
    parser.add_argument("--num-samples", type=int, default=200, help="posterior draws")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
