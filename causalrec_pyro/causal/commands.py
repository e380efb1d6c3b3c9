"""The ``graph``, ``effect`` and ``counterfactual`` sub-commands of ``causalrec``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

__all__ = ["add_commands", "run_graph", "run_effect", "run_counterfactual"]

_RUN_HELP = "model run directory written by `causalrec fit`, such as RUN/mnar"


def add_commands(subparsers) -> None:
    """Register the causal sub-commands on the ``causalrec`` parser's ``subparsers``."""
    graph = subparsers.add_parser(
        "graph",
        help="print the causal graph of a fitted model and compare it with the declared one",
        description="Extract the causal graph from the model's program, print each site with "
        "its parents, list the edges that differ from the model's declared graph, and "
        "optionally draw it.",
    )
    graph.add_argument("run_dir", type=Path, metavar="RUN_DIR", help=_RUN_HELP)
    graph.add_argument("--png", type=Path, default=None, help="PNG file to draw the graph into")
    graph.add_argument("--dot", type=Path, default=None, help="file to write the graph to, in DOT")
    graph.add_argument(
        "--split",
        default="train",
        help="rows the model runs on to extract the graph: a data split (train, test) or fit, "
        "the rows it was fitted on",
    )
    graph.set_defaults(func=run_graph)

    effect = subparsers.add_parser(
        "effect",
        help="estimate E[outcome | do(treatment=treated)] - E[outcome | do(treatment=control)]",
        description="Estimate the average causal effect of setting a site to two values, with "
        "its posterior mean, standard deviation and credible interval, overall or per group.",
    )
    effect.add_argument("run_dir", type=Path, metavar="RUN_DIR", help=_RUN_HELP)
    effect.add_argument("--treatment", required=True, help="site to intervene on, e.g. exposure")
    effect.add_argument("--outcome", required=True, help="outcome site, e.g. rating or click")
    effect.add_argument("--treated", type=float, required=True, help="value of the treated arm")
    effect.add_argument("--control", type=float, required=True, help="value of the control arm")
    effect.add_argument(
        "--by",
        default=None,
        help="group the effect by user, item, or a feature column, prefixed by user: or item: "
        "when both tables have it (e.g. user:gender:women on Coat, gender on MovieLens)",
    )
    _add_query_options(effect)
    effect.add_argument("--ci", type=float, default=0.9, help="credible interval level, in (0, 1)")
    effect.add_argument("--out", type=Path, default=None, help="CSV file for the effect table")
    effect.set_defaults(func=run_effect)

    counterfactual = subparsers.add_parser(
        "counterfactual",
        help="predict each observed unit's outcome had a site taken another value",
        description="Abduct each unit's noise from its observed values, apply the "
        "intervention, and predict the outcome; prints a summary and the first units.",
    )
    counterfactual.add_argument("run_dir", type=Path, metavar="RUN_DIR", help=_RUN_HELP)
    counterfactual.add_argument(
        "--intervention",
        action="append",
        required=True,
        metavar="SITE=VALUE",
        help="site and the number to set it to, e.g. exposure=1; repeat for several sites",
    )
    counterfactual.add_argument("--outcome", required=True, help="outcome site, e.g. rating")
    _add_query_options(counterfactual)
    counterfactual.add_argument(
        "--out", type=Path, default=None, help="CSV file for the per-unit counterfactuals"
    )
    counterfactual.set_defaults(func=run_counterfactual)


def _add_query_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--split",
        default="test",
        help="rows that are the units: a data split (test, train) or fit, the rows the model "
        "was fitted on (for mnar, every training pair with its exposure)",
    )
    parser.add_argument("--num-samples", type=int, default=200, help="number of posterior draws")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the draws")


# ------------------------------------------------------------------- commands
def run_graph(args) -> int:
    from causalrec_pyro.causal.graph import CausalGraph
    from causalrec_pyro.runs import load_run, query_split

    posterior, data, info = load_run(args.run_dir)
    graph = CausalGraph.from_scm(posterior.scm, query_split(args.split, info, data))
    rows = []
    for node in graph.topological_order():
        attributes = graph.nx.nodes[node]
        kind = "observed" if attributes["observed"] else "latent"
        if attributes["deterministic"]:
            kind = "deterministic"
        parents = ", ".join(sorted(graph.parents(node))) or "-"
        rows.append((node, kind, ", ".join(attributes["plates"]) or "-", parents))
    table = pd.DataFrame(rows, columns=["site", "kind", "plates", "parents"])
    print(
        f"Causal graph of model {posterior.scm.name!r}: {graph.nx.number_of_nodes()} sites, "
        f"{graph.nx.number_of_edges()} edges"
    )
    print(table.to_string(index=False))
    if graph.matches_declared is None:
        print("The model declares no graph.")
    elif graph.matches_declared:
        print("The program's edges equal the declared graph.")
    else:
        for parent, child in graph.missing_edges:
            print(f"declared but not in the program: {parent} -> {child}")
        for parent, child in graph.extra_edges:
            print(f"in the program but not declared: {parent} -> {child}")
    if args.dot is not None:
        from causalrec_pyro.runs import write_atomic

        write_atomic(args.dot, graph.to_dot().encode())
        print(f"Wrote {args.dot}")
    if args.png is not None:
        graph.draw(args.png)
        print(f"Wrote {args.png}")
    return 0


def run_effect(args) -> int:
    from causalrec_pyro.causal.effects import average_effect
    from causalrec_pyro.runs import load_run, query_split, write_atomic

    posterior, data, info = load_run(args.run_dir)
    split = query_split(args.split, info, data)
    effect = average_effect(
        posterior,
        args.treatment,
        args.outcome,
        args.treated,
        args.control,
        split,
        by=args.by,
        num_samples=args.num_samples,
        seed=args.seed,
        ci=args.ci,
    )
    _print_point_estimate_note(posterior)
    print(
        f"E[{args.outcome} | do({args.treatment}={args.treated:g})] - "
        f"E[{args.outcome} | do({args.treatment}={args.control:g})] over {len(split)} units "
        f"of split {args.split!r}, {args.num_samples} posterior draws:"
    )
    table = effect.to_frame()
    print(table.to_string(float_format=lambda value: f"{value:.4f}"))
    if args.out is not None:
        write_atomic(args.out, table.to_csv().encode())
        print(f"Wrote {args.out}")
    return 0


def run_counterfactual(args) -> int:
    from causalrec_pyro.causal.counterfactual import counterfactual
    from causalrec_pyro.runs import FIT_SPLIT, load_run, query_split, write_atomic

    posterior, data, info = load_run(args.run_dir)
    split = query_split(args.split, info, data)
    intervention = parse_intervention(args.intervention)
    kwargs = posterior.scm.model_kwargs(split)
    missing = [site for site in posterior.scm.observed if kwargs.get(site) is None]
    try:
        draws = counterfactual(
            posterior,
            split,
            intervention,
            args.outcome,
            num_samples=args.num_samples,
            seed=args.seed,
        )
    except ValueError as error:
        if not missing or args.split == FIT_SPLIT:
            raise
        raise ValueError(
            f"{error} Split {args.split!r} has no values of {missing}. From the command line, "
            f"--split {FIT_SPLIT} takes the rows the model was fitted on, which have them."
        ) from None
    _print_point_estimate_note(posterior)
    factual = kwargs.get(args.outcome)
    table = pd.DataFrame(
        {
            "user": data.user_ids[split.user.cpu().numpy()],
            "item": data.item_ids[split.item.cpu().numpy()],
            "factual": np.nan if factual is None else factual.cpu().numpy(),
            "counterfactual": draws.mean(0).cpu().numpy(),
            "ci_low (90%)": torch.quantile(draws.double(), 0.05, dim=0).cpu().numpy(),
            "ci_high (90%)": torch.quantile(draws.double(), 0.95, dim=0).cpu().numpy(),
        }
    )
    setting = ", ".join(f"{site}={value:g}" for site, value in intervention.items())
    print(
        f"Counterfactual {args.outcome} under do({setting}) for {len(split)} units of split "
        f"{args.split!r}, {args.num_samples} posterior draws:"
    )
    summary = {
        "units": len(table),
        "mean factual": table["factual"].mean(),
        "mean counterfactual": table["counterfactual"].mean(),
        "mean change": (table["counterfactual"] - table["factual"]).mean(),
    }
    for name, value in summary.items():
        print(f"  {name:<20} {value:.4f}" if name != "units" else f"  {name:<20} {value}")
    print("First units (counterfactual: posterior mean and 90% interval):")
    print(table.head(10).to_string(index=False, float_format=lambda value: f"{value:.4f}"))
    if args.out is not None:
        write_atomic(args.out, table.to_csv(index=False).encode())
        print(f"Wrote {args.out}")
    return 0


def _print_point_estimate_note(posterior) -> None:
    from causalrec_pyro.runs import point_estimate_note

    note = point_estimate_note(posterior)
    if note is not None:
        print(note)


def parse_intervention(items) -> dict[str, float]:
    """Parse ``["site=value", ...]`` into ``{site: float(value)}``."""
    intervention = {}
    for item in items:
        site, separator, text = item.partition("=")
        try:
            value = float(text)
        except ValueError:
            value = None
        if not separator or not site.strip() or value is None:
            raise ValueError(
                f"--intervention {item!r} is invalid; write SITE=NUMBER, such as exposure=1."
            )
        intervention[site.strip()] = value
    return intervention
