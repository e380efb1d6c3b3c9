r"""Counterfactuals for observed units: abduction, action, prediction.

For unit :math:`n` with evidence :math:`e_n` (its observed sites) and posterior draw
:math:`z^{(s)}`, the counterfactual outcome :math:`y_n^{(s)}(t^*)` is what :math:`y_n` would have
been, had the treatment been :math:`t^*`, with everything else about the unit kept as it was:

1. Abduction: infer the exogenous noise of every site that the intervention changes on its way
   to the outcome, from the factual values.
2. Action: apply ``pyro.poutine.do(t = t*)``.
3. Prediction: rerun the model with the latents and the abducted noise held fixed.

The noise of a site is found in one of two ways.

* Explicit noise. The model samples the noise as its own latent site (``rating_noise``) and
  computes the site from it with ``pyro.deterministic``. The noise is then a latent of the
  posterior and abduction is inference: each draw's noise is reused in the intervened world.
  Such a latent has one value per unit, so the posterior must have been fitted on the evidence
  units.
* CDF matching (:mod:`causalrec_pyro.causal.noise`). For a univariate site with a CDF,
  :math:`u = F(y)` under its factual distribution and the counterfactual value is
  :math:`F'^{-1}(u)` under its intervened distribution. This is exact abduction for monotone
  single-noise mechanisms (Normal, LogNormal, StudentT) and the counterfactual-stability
  construction for Bernoulli, Categorical, ordinal and Poisson sites, for which :math:`u` is
  drawn uniformly between :math:`F(y-1)` and :math:`F(y)`.

Assumptions: the model is the true SCM up to its latents, and each site with CDF matching has a
single monotone noise (for discrete sites, counterfactual stability).
"""

from __future__ import annotations

import networkx as nx
import pyro.poutine as poutine
import torch
from pyro.poutine.messenger import Messenger

from causalrec_pyro.causal.interventions import event_dim, prepare_query
from causalrec_pyro.causal.noise import Noise, abduct, no_cdf_message, noise_kind, predict
from causalrec_pyro.inference.posterior import Posterior
from causalrec_pyro.inference.traces import draws_first

__all__ = ["counterfactual"]


def counterfactual(
    posterior: Posterior,
    evidence,
    intervention,
    outcome: str,
    num_samples: int = 100,
    seed: int | None = 0,
    *,
    chunk_size: int | None = None,
) -> torch.Tensor:
    r"""Return draws of each unit's counterfactual outcome under ``intervention``.

    The estimand for unit :math:`n` and draw :math:`s` is a sample of
    :math:`y_n(t^*) \mid e_n, z^{(s)}`: the outcome in the world where ``do(t = t*)`` applies and
    the exogenous noise is what produced the evidence :math:`e_n`. The module notes describe
    the abduction and its assumptions. Averaging over draws gives the posterior
    counterfactual mean; for a binary outcome, the counterfactual probability.

    Sites on a directed path from the intervention to ``outcome`` are recomputed in
    topological order, each from its own abducted noise. Sites that the intervention does not
    affect keep their factual values.

    Parameters
    ----------
    posterior : Posterior
        Draws of the latent sites. Per-unit latents (explicit noise) must come from a fit on the
        evidence units.
    evidence : Split, RatingData or dict
        The observed units: a split, a data set (its ``"train"`` split) or the model's keyword
        arguments with the observed values.
    intervention : mapping of str to value
        As in :func:`~causalrec_pyro.causal.intervene`: a number, a tensor of the site's shape
        or a callable of the model's keyword arguments.
    outcome : str
        The site to return; it must descend from an intervened site.
    num_samples, seed : int
        Number of posterior draws ``S`` and the seed of all sampling.
    chunk_size : int, optional
        Draws processed at once (see :func:`~causalrec_pyro.causal.intervene`).

    Returns
    -------
    torch.Tensor
        Shape ``(S, N)``: a counterfactual value for each draw and unit.

    Raises
    ------
    ValueError
        For an unknown site, an outcome not downstream of the intervention, a site between the
        intervention and the outcome without a CDF, or a site the outcome depends on that has
        neither an observed value in the evidence nor draws in the posterior.
    """
    query = prepare_query(posterior, evidence, num_samples, seed)
    with query.seeded():
        values = query.resolve(intervention)
        if not values:
            raise ValueError("intervention is empty; name at least one site and its value.")
        query.check_sites([outcome], "outcome")
        plan = _plan(query, set(values), outcome)
        chunks = []
        for draws, size in query.chunks(chunk_size):
            factual_model = poutine.condition(query.scm, data=plan.factual)
            factual_trace = query.trace(factual_model, draws)
            noises = {
                site: abduct(factual_trace.nodes[site]["fn"], factual_trace.nodes[site]["value"])
                for site in plan.abducted
            }
            unaffected = {site: value for site, value in plan.factual.items() if site not in noises}
            model = _SetFromNoise(noises)(poutine.condition(query.scm, data=unaffected))
            fixed_draws = {name: value for name, value in draws.items() if name not in noises}
            trace = query.trace(model, fixed_draws, values)
            node = trace.nodes[outcome]
            dims = event_dim(node, query.nesting)
            chunks.append(draws_first(node["value"].detach(), size, query.nesting, dims))
    return torch.cat(chunks, dim=0)


class _Plan:
    """The sites to abduct, in topological order, and the factual values to condition on."""

    def __init__(self, abducted: list[str], factual: dict):
        self.abducted = abducted
        self.factual = factual


def _plan(query, intervened: set[str], outcome: str) -> _Plan:
    """Check the query against the model's graph and list the sites to abduct."""
    scm = query.scm
    graph = query.graph

    for site in intervened | {outcome}:
        if site not in graph.nx:
            raise ValueError(
                f"Site {site!r} is not a node of the graph of model {scm.name!r}; its nodes are "
                f"{sorted(graph.nx.nodes)}."
            )
    affected = set().union(*(graph.descendants(site) for site in intervened))
    if outcome in intervened or outcome not in affected:
        raise ValueError(
            f"Outcome {outcome!r} does not descend from the intervened site(s) "
            f"{sorted(intervened)} in the graph of model {scm.name!r}, so its counterfactual "
            f"equals its factual value. The outcome's causes are "
            f"{sorted(graph.ancestors(outcome))}; intervene on one of them."
        )

    # Every site the outcome depends on once the intervened sites are cut from their causes.
    mutilated = graph.nx.copy()
    mutilated.remove_edges_from([edge for site in intervened for edge in graph.nx.in_edges(site)])
    relevant = (nx.ancestors(mutilated, outcome) | {outcome}) - intervened
    factual = {
        site: query.observed_kwargs[site]
        for site in scm.observed
        if site in query.sites and query.observed_kwargs.get(site) is not None
    }
    latents = set(query.posterior.site_shapes)

    abducted = []
    for site in graph.topological_order(relevant):
        kind = noise_kind(query.sites[site]["fn"])
        if kind == "deterministic":
            continue
        if site not in factual and site not in latents:
            raise ValueError(
                f"Site {site!r} affects outcome {outcome!r} but has no factual value: it is not "
                f"in the evidence and not a latent of the posterior, so its noise cannot be "
                f"abducted. Pass its observed values in the evidence (argument {site!r}), or "
                "make it a latent site of the fitted model."
            )
        if site in affected:
            if kind is None:
                raise ValueError(no_cdf_message(site, query.sites[site]["fn"]))
            abducted.append(site)
    return _Plan(abducted, factual)


class _SetFromNoise(Messenger):
    """Set each listed site to the value its distribution gives to its abducted noise."""

    def __init__(self, noises: dict[str, Noise]):
        super().__init__()
        self.noises = noises

    def _pyro_sample(self, msg):
        noise = self.noises.get(msg["name"])
        if noise is None:
            return
        msg["value"] = predict(msg["fn"], noise)
        msg["is_observed"] = True
