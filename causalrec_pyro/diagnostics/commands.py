"""The ``causalrec diagnose`` sub-command and the LOO summaries it prints."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from causalrec_pyro.atomic import atomic_path

__all__ = ["add_commands", "run_diagnose", "loo_by_site", "pareto_k_counts", "chain_summary"]

INFERENCE_DATA_FILE = "inference_data.nc"


def add_commands(subparsers) -> None:
    """Register ``diagnose`` on the ``causalrec`` sub-command parsers."""
    parser = subparsers.add_parser(
        "diagnose",
        help="write inference_data.nc, print R-hat, ESS and LOO, and save diagnostic plots",
        description="Convert the fitted posterior of a model run directory to ArviZ "
        "InferenceData (written to RUN_DIR/inference_data.nc), print R-hat and effective "
        "sample sizes (NUTS), PSIS-LOO with Pareto-k counts for each observed site, and save "
        "the plots as PNG in RUN_DIR.",
    )
    parser.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="model run directory, such as RUN/mf"
    )
    parser.add_argument(
        "--num-samples",
        type=int,
        default=None,
        help="posterior draws to convert (default: 200 guide draws for SVI, every stored "
        "draw for NUTS; fewer NUTS draws are taken evenly spaced within each chain)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed of the guide and predictive draws"
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.set_defaults(func=run_diagnose)


def run_diagnose(args) -> int:
    """Diagnose a run directory; return the exit code."""
    with warnings.catch_warnings():
        # ArviZ 0.23 announces its coming 1.0 refactor on import; a command-line user cannot
        # act on that notice, so it is not shown here.
        warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
        import arviz  # noqa: F401

    from causalrec_pyro.diagnostics.convert import to_inference_data
    from causalrec_pyro.runs import fit_split, load_run, point_estimate_note

    run_dir = Path(args.run_dir)
    posterior, data, info = load_run(run_dir)
    note = point_estimate_note(posterior, "diagnose converts one draw and skips PSIS-LOO")
    num_samples = args.num_samples
    if note is not None:
        print(note)
        num_samples = 1 if num_samples is None else num_samples
    split = fit_split(info, data)
    idata = to_inference_data(posterior, split, num_samples=num_samples, seed=args.seed)
    path = write_netcdf(idata, run_dir / INFERENCE_DATA_FILE)
    method = posterior.fit_config.get("method", "stored draws")
    chains, draws = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    print(f"Model {posterior.scm.name!r} ({method}): {chains} chain(s) x {draws} draws.")
    print(f"Wrote {path}")

    if method == "nuts":
        print("\nConvergence (worst value over each variable's entries):")
        print(chain_summary(idata).to_string(float_format=lambda x: f"{x:.3f}"))
        diverging = int(idata.sample_stats["diverging"].sum())
        print(f"Divergent transitions: {diverging}")

    if posterior.is_point_estimate:
        # PSIS-LOO needs draws that differ. On a MAP run ArviZ reported every Pareto k above 1.
        print("\nLog-likelihood at the point estimate per observed site:")
        for name, values in idata.log_likelihood.data_vars.items():
            first = values.isel(chain=0, draw=0)
            print(f"  {name}: {float(first.sum()):.2f} over {first.size} units")
    else:
        print("\nPSIS-LOO per observed site:")
        for name, result in loo_by_site(idata).items():
            counts = pareto_k_counts(result)
            print(
                f"  {name}: elpd_loo {result.elpd_loo:.2f} (SE {result.se:.2f}), "
                f"p_loo {result.p_loo:.2f}, {result.n_data_points} units"
            )
            pareto = ", ".join(f"{label} {count}" for label, count in counts.items())
            print("    Pareto k: " + pareto)

    if not args.no_plots:
        for written in save_plots(posterior, split, idata, run_dir):
            print(f"Saved {written}")
    return 0


def write_netcdf(idata, path: str | os.PathLike) -> Path:
    """Write ``idata`` to ``path`` atomically: to a temporary file, then renamed."""
    path = Path(path)
    with atomic_path(path) as temporary:
        idata.to_netcdf(temporary)
    return path


def loo_by_site(idata) -> dict:
    """Return ``az.loo`` of each variable of the ``log_likelihood`` group, by name.

    ArviZ's warning about large Pareto k is silenced here, because
    :func:`pareto_k_counts` reports the k values of every unit.
    """
    import arviz as az

    results = {}
    for name in idata.log_likelihood.data_vars:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Estimated shape parameter of Pareto", category=UserWarning
            )
            results[name] = az.loo(idata, var_name=name, pointwise=True)
    return results


def pareto_k_counts(result) -> dict[str, int]:
    """Count the Pareto k values of a pointwise ``az.loo`` result in ArviZ's bins.

    The bins are good (k <= ``good_k``), ok (up to 0.7), bad (up to 1) and very bad (above
    1). ArviZ 0.23 sets ``good_k = min(1 - 1 / log10(S), 0.7)`` for ``S`` draws, so with
    few draws the ok bin is empty.
    """
    k = np.asarray(result.pareto_k).ravel()
    good_k = float(getattr(result, "good_k", 0.5))
    return {
        f"good (k <= {good_k:.2f})": int((k <= good_k).sum()),
        "ok (<= 0.7)": int(((k > good_k) & (k <= 0.7)).sum()),
        "bad (<= 1)": int(((k > 0.7) & (k <= 1.0)).sum()),
        "very bad (> 1)": int((k > 1.0).sum()),
    }


def chain_summary(idata):
    """Return a table of the largest R-hat and smallest bulk and tail ESS of each variable."""
    import arviz as az
    import pandas as pd

    rhat = az.rhat(idata)
    bulk = az.ess(idata, method="bulk")
    tail = az.ess(idata, method="tail")
    rows = {
        name: {
            "r_hat_max": float(rhat[name].max()),
            "ess_bulk_min": float(bulk[name].min()),
            "ess_tail_min": float(tail[name].min()),
        }
        for name in idata.posterior.data_vars
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def save_plots(posterior, split, idata, run_dir: Path) -> list[Path]:
    """Save the diagnostic plots that apply to this run as PNG in ``run_dir``; return the paths.

    ``elbo.png`` for an SVI fit, ``rank.png`` for NUTS, ``ppc_rating.png`` when the model
    has an observed ``rating`` site, and ``graph.png`` when the causal graph module exists.
    """
    from causalrec_pyro.diagnostics import plots

    jobs = []
    if posterior.loss_history:
        jobs.append(("elbo.png", lambda path: plots.plot_elbo(posterior, path)))
    if posterior.fit_config.get("method") == "nuts":
        jobs.append(("rank.png", lambda path: plots.plot_chains(idata, path)))
    if "rating" in idata.observed_data.data_vars:
        jobs.append(("ppc_rating.png", lambda path: plots.plot_rating_ppc(idata, "rating", path)))
    written = []
    for name, draw in jobs:
        draw(run_dir / name).clear()
        written.append(run_dir / name)
    graph = plots.plot_causal_graph(posterior, split, run_dir / "graph.png")
    if graph is not None:
        written.append(graph)
    return written
