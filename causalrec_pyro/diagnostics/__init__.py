"""Diagnostics: model checks, ArviZ conversion, LOO and plots."""

from causalrec_pyro.diagnostics.check import ModelCheck, PlateInfo, Problem, SiteInfo, check_scm
from causalrec_pyro.diagnostics.commands import chain_summary, loo_by_site, pareto_k_counts
from causalrec_pyro.diagnostics.convert import posterior_draws, to_inference_data
from causalrec_pyro.diagnostics.plots import (
    plot_causal_graph,
    plot_chains,
    plot_elbo,
    plot_rating_ppc,
)

__all__ = [
    "ModelCheck",
    "PlateInfo",
    "Problem",
    "SiteInfo",
    "chain_summary",
    "check_scm",
    "loo_by_site",
    "pareto_k_counts",
    "plot_causal_graph",
    "plot_chains",
    "plot_elbo",
    "plot_rating_ppc",
    "posterior_draws",
    "to_inference_data",
]
