"""Diagnostic plots: the ELBO curve, chain plots, a rating posterior predictive check, the graph.

Every function draws on a new :class:`matplotlib.figure.Figure` (not through ``pyplot``, so
no window opens and the current backend is left alone), saves it as PNG when ``path`` is
given, and returns it.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from causalrec_pyro.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_elbo", "plot_chains", "plot_rating_ppc", "plot_causal_graph", "chain_variables"]

#: Largest number of values a latent site may have to be drawn whole in the chain plots.
_SMALL_SITE = 8


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | os.PathLike | None) -> Figure:
    """Save ``figure`` to ``path`` atomically (temporary file, then rename) and return it."""
    figure.tight_layout()
    if path is None:
        return figure
    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format=path.suffix.lstrip(".") or "png", dpi=100)
    return figure


def plot_elbo(loss_history, path: str | os.PathLike | None = None) -> Figure:
    """Plot the SVI loss (negative ELBO) of each step, on a log scale when it stays positive.

    ``loss_history`` is a list of floats or a posterior with a ``loss_history`` attribute.
    """
    losses = np.asarray(getattr(loss_history, "loss_history", loss_history), dtype=float)
    if losses.size == 0:
        raise ValueError(
            "The loss history is empty; plot_elbo needs a posterior fitted with fit_svi."
        )
    figure = _new_figure(6, 3.5)
    ax = figure.add_subplot()
    ax.plot(np.arange(1, losses.size + 1), losses, linewidth=0.8)
    if (losses > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("SVI step")
    ax.set_ylabel("loss (negative ELBO)")
    ax.set_title("ELBO loss")
    return _save(figure, path)


def chain_variables(idata, max_variables: int = 6) -> list[str]:
    """Return the posterior variables that the chain plots show: the small (global) ones first.

    A variable with at most 8 values is shown whole. When there are fewer than
    ``max_variables`` of those, larger variables follow, shown by their first two entries
    along each non-sample dimension.
    """
    posterior = idata.posterior
    names = list(posterior.data_vars)
    sizes = {
        name: int(np.prod([posterior[name].sizes[d] for d in _value_dims(posterior[name])]))
        for name in names
    }
    small = [name for name in names if sizes[name] <= _SMALL_SITE]
    large = [name for name in names if sizes[name] > _SMALL_SITE]
    return (small + large)[:max_variables]


def _value_dims(variable) -> list[str]:
    return [dim for dim in variable.dims if dim not in ("chain", "draw")]


def _reduced_posterior(idata, names: list[str]):
    """Return an InferenceData with ``names``, each cut to two entries along every value dim."""
    import arviz as az

    posterior = idata.posterior[names]
    value_dims = [dim for dim in posterior.dims if dim not in ("chain", "draw")]
    return az.InferenceData(posterior=posterior.isel({dim: slice(0, 2) for dim in value_dims}))


def plot_chains(
    idata,
    path: str | os.PathLike | None = None,
    kind: str = "rank",
    var_names: list[str] | None = None,
) -> Figure:
    """Plot the chains of the posterior with ArviZ: rank plots (``"rank"``) or trace plots.

    Rank plots (Vehtari et al., 2021) show one histogram of the ranks of the draws per chain;
    well-mixed chains give flat histograms. ``var_names`` defaults to
    :func:`chain_variables`. Large variables show their first two entries per dimension.
    """
    import arviz as az

    if kind not in ("rank", "trace"):
        raise ValueError(f"kind must be 'rank' or 'trace', got {kind!r}.")
    names = var_names or chain_variables(idata)
    missing = sorted(set(names) - set(idata.posterior.data_vars))
    if missing:
        raise KeyError(
            f"Variables {missing} are not in the posterior; it has "
            f"{sorted(idata.posterior.data_vars)}."
        )
    reduced = _reduced_posterior(idata, names)
    panels = sum(
        int(np.prod([reduced.posterior[n].sizes[d] for d in _value_dims(reduced.posterior[n])]))
        for n in names
    )
    if kind == "rank":
        columns = min(3, panels)
        rows = -(-panels // columns)
        figure = _new_figure(4 * columns, 2.6 * rows)
        axes = np.asarray(figure.subplots(rows, columns, squeeze=False))
        with warnings.catch_warnings():
            # ArviZ 0.23 also computes a density that the rank plot discards. With rank bins of
            # zero width that density divides by zero, but the plot does not use it.
            warnings.filterwarnings(
                "ignore", message="invalid value encountered in divide", category=RuntimeWarning
            )
            az.plot_rank(reduced, var_names=names, ax=axes.ravel()[:panels])
        for extra in axes.ravel()[panels:]:
            extra.set_visible(False)
    else:
        figure = _new_figure(10, 2.2 * len(names))
        axes = np.asarray(figure.subplots(len(names), 2, squeeze=False))
        az.plot_trace(reduced, var_names=names, axes=axes)
    return _save(figure, path)


def plot_rating_ppc(idata, site: str = "rating", path: str | os.PathLike | None = None) -> Figure:
    """Compare the distribution of the observed ratings with the posterior predictive one.

    For each rating level (each distinct observed value), the bar is the observed share of
    units with that rating, and the point with its 90% interval is the share in the
    replicated data of each draw. Replicated values are rounded to the nearest level first,
    so a continuous rating model (Normal) is compared on the same scale. Values beyond the
    extreme levels count for the extreme level.

    For a site split with ``obs_mask`` (the exposure model's ``rating``), only the observed
    units are compared, and the title states this. ``to_inference_data`` draws a discrete such
    site's replicates given the units' other observed sites, so they are comparable with
    the self-selected observed values.
    """
    for group in ("observed_data", "posterior_predictive"):
        names = sorted(idata[group].data_vars) if group in idata.groups() else []
        if site not in names:
            raise KeyError(
                f"Site {site!r} is not in the {group} group of the InferenceData; that group "
                f"holds {names}."
            )
    observed = np.asarray(idata.observed_data[site]).ravel()
    levels = np.unique(observed)
    replicated = np.asarray(idata.posterior_predictive[site])
    replicated = replicated.reshape(-1, observed.size)
    nearest = np.abs(replicated[..., None] - levels).argmin(-1)
    shares = np.stack([(nearest == k).mean(-1) for k in range(levels.size)], axis=-1)
    observed_share = np.array([(observed == level).mean() for level in levels])
    low, middle, high = np.percentile(shares, [5, 50, 95], axis=0)

    figure = _new_figure(6, 3.5)
    ax = figure.add_subplot()
    positions = np.arange(levels.size)
    ax.bar(positions, observed_share, color="0.8", label="observed")
    ax.errorbar(
        positions,
        middle,
        yerr=[middle - low, high - middle],
        fmt="o",
        color="C0",
        label="posterior predictive (median, 90%)",
    )
    ax.set_xticks(positions, [f"{level:g}" for level in levels])
    # Headroom above the tallest bar or interval keeps the legend off the data.
    ax.set_ylim(0, 1.35 * max(observed_share.max(), high.max()))
    ax.set_xlabel(site)
    ax.set_ylabel("share of units")
    title = f"Posterior predictive check of {site!r}"
    if idata.observed_data[site].dims[0] == f"{site}_interaction":
        # A split site: observed_layouts names its unit axis after the site.
        title += " at its observed units"
    ax.set_title(title)
    ax.legend()
    return _save(figure, path)


def plot_causal_graph(posterior, data, path: str | os.PathLike) -> Path | None:
    """Draw the causal graph of ``posterior.scm`` with ``scm.graph(data).draw(path)``.

    Returns the path, or None (with a printed note) when ``causalrec_pyro.causal.graph`` is
    not available in this installation.
    """
    if importlib.util.find_spec("causalrec_pyro.causal.graph") is None:
        print("Note: causalrec_pyro.causal.graph is not available; the causal graph is skipped.")
        return None
    posterior.scm.graph(data).draw(path)
    return Path(path)
