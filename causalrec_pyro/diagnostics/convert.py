"""Convert a :class:`~causalrec_pyro.Posterior` and its data into an ArviZ ``InferenceData``."""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Mapping

import numpy as np
import pyro.poutine as poutine
import torch
from pyro.infer import config_enumerate

from causalrec_pyro.diagnostics.layouts import (
    PLATE_DIMS,
    SiteLayout,
    constant_data,
    observed_layouts,
    site_dims,
)
from causalrec_pyro.inference.posterior import Posterior
from causalrec_pyro.inference.traces import draws_first, prototype_trace, trace_over_draws

__all__ = [
    "PLATE_DIMS",
    "SiteLayout",
    "to_inference_data",
    "posterior_draws",
    "pointwise_log_likelihood",
    "observed_layouts",
    "site_dims",
]

#: Number of guide draws used when a guide-backed posterior is converted without num_samples.
DEFAULT_GUIDE_DRAWS = 200


def to_inference_data(
    posterior: Posterior,
    data,
    num_samples: int | None = None,
    seed: int | None = 0,
    chunk_size: int = 50,
):
    r"""Return an ArviZ ``InferenceData`` of ``posterior`` fitted on ``data``.

    Groups:

    ``posterior``
        The latent draws, dims ``(chain, draw, ...)``. Draws of a guide (SVI) form one chain;
        NUTS keeps its chains.
    ``posterior_predictive``
        For each observed site, one replicated data set per draw,
        :math:`y^{rep,(s)} \sim p(y \mid z^{(s)}, x)`, with every observed site generated.
    ``log_likelihood``
        For each observed site, :math:`\log p(y_n \mid z^{(s)}, x_n)` for every draw
        :math:`s` and observed unit :math:`n` (for a per-interaction site, each interaction),
        with the other observed sites held at their data. Discrete sites that the model sums
        out (``infer={"enumerate": "parallel"}``) are summed out here too, so the value is
        the marginal :math:`\log \sum_k p(k \mid z) p(y_n \mid k, z)`.
    ``observed_data``
        The observed values that the likelihood scores.
    ``constant_data``
        The covariates: ``user_index`` and ``item_index`` (the model's ``user`` and ``item``
        arguments, renamed because ``user`` and ``item`` are dimension names), the other
        per-interaction columns, and feature tables.
    ``sample_stats``
        For NUTS only: ``diverging``, ``tree_depth``, ``energy``, ``lp``, ``step_size``.

    A site that the model splits with ``pyro.sample(..., obs_mask=mask)`` (the exposure
    model's ``rating``) is kept only at the units where it is observed. This applies to its
    ``posterior_predictive``, ``log_likelihood`` and ``observed_data`` alike. Its dimension
    is named ``<site>_<plate dim>`` (``rating_interaction``), with the positions of those
    units in the data as coordinates.

    The replicated values of such a site, when it is discrete, are drawn given the unit's
    other observed sites: :math:`p(y_n = k \mid z, o_n) \propto p(k \mid z) p(o_n \mid k, z)`,
    with its values enumerated. For the exposure model that is the rating given that it was
    observed, which is what its observed ratings are a sample of. A continuous split site, or a
    discrete one whose observed neighbours also depend on other enumerated sites, is
    replicated from its mechanism alone, not conditioned on being observed.

    Dimensions: a per-user site gets dim ``user``, a per-item site ``item``, a
    per-interaction site ``interaction``; other plates keep their name; any other axis is
    ``<site>_dim_<k>``, numbered from 0 (``user_pref_dim_0`` for the factor axis).

    Parameters
    ----------
    posterior : Posterior
        A fitted posterior (SVI, NUTS or stored draws).
    data : Split, RatingData or dict
        The data the posterior was fitted on; for the exposure model, with the unobserved
        pairs (``Split.with_unobserved``).
    num_samples : int, optional
        Draws to convert. ``None`` takes every stored draw (NUTS), or 200 draws of a guide.
        For stored draws, fewer draws are taken evenly spaced within each chain.
    seed : int, optional
        Seed of the guide draws and of the posterior predictive draws.
    chunk_size : int
        Draws traced at once, which bounds memory.

    Returns
    -------
    arviz.InferenceData
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
    scm = posterior.scm
    kwargs = scm.model_kwargs(data)
    draws, stats = posterior_draws(posterior, num_samples, seed)
    num_chains, num_draws = next(iter(draws.values())).shape[:2]
    device = next((v.device for v in kwargs.values() if isinstance(v, torch.Tensor)), None)
    flat = {name: value.reshape((-1,) + value.shape[2:]) for name, value in draws.items()}
    if device is not None:
        flat = {name: value.to(device) for name, value in flat.items()}

    trace = prototype_trace(scm, kwargs)
    layouts = observed_layouts(scm, trace)
    sizes = _plate_sizes(trace)
    dims = {}
    for name, value in draws.items():
        dims[name] = site_dims(trace.nodes[name], name, value.shape[2:])
    for layout in layouts:
        dims[layout.name] = layout.dims

    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        predictive = _predictive(posterior, flat, data, layouts, chunk_size)
    log_likelihood = pointwise_log_likelihood(posterior, flat, kwargs, layouts, chunk_size)

    def by_chain(value: torch.Tensor) -> np.ndarray:
        return value.reshape((num_chains, num_draws) + value.shape[1:]).cpu().numpy()

    groups = {
        "posterior": {name: value.cpu().numpy() for name, value in draws.items()},
        "posterior_predictive": {name: by_chain(v) for name, v in predictive.items()},
        "log_likelihood": {name: by_chain(v) for name, v in log_likelihood.items()},
        "observed_data": {
            layout.name: layout.observed.detach().cpu().numpy() for layout in layouts
        },
    }
    constants, constant_dims = constant_data(scm, kwargs)
    if constants:
        groups["constant_data"] = constants
        dims.update(constant_dims)
    if stats:
        groups["sample_stats"] = {name: value.cpu().numpy() for name, value in stats.items()}

    coords = {dim: np.arange(size) for dim, size in sizes.items()}
    for layout in layouts:
        if layout.units is not None:
            coords[layout.dims[0]] = layout.units.cpu().numpy()
    # A model without observed sites has no predictive, log-likelihood or observed data.
    groups = {name: group for name, group in groups.items() if group}
    attrs = {
        "model": scm.name,
        "inference_method": posterior.fit_config.get("method", "stored draws"),
    }
    return _from_dict(groups, coords=coords, dims=dims, attrs=attrs)


def posterior_draws(
    posterior: Posterior, num_samples: int | None = None, seed: int | None = 0
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Return the latent draws ``{site: (chain, draw, *shape)}`` and the sample statistics.

    Stored draws keep the chain structure recorded in ``posterior.extras["chains"]`` (one
    chain when absent); ``num_samples`` of them are taken evenly spaced within each chain.
    A guide-backed posterior gives ``num_samples`` draws (200 by default) as one chain.
    The statistics are ``posterior.extras["sample_stats"]`` thinned the same way, or ``{}``.
    """
    if posterior.samples is None:
        draws = posterior.sample(num_samples or DEFAULT_GUIDE_DRAWS, seed=seed)
        return {name: value.unsqueeze(0) for name, value in draws.items()}, {}
    num_chains = int(posterior.extras.get("chains", 1))
    total = posterior.num_stored
    if total % num_chains:
        raise ValueError(
            f"The posterior stores {total} draws, which do not split into "
            f"extras['chains']={num_chains} chains of equal length."
        )
    per_chain = total // num_chains
    keep = per_chain if num_samples is None else max(1, math.ceil(num_samples / num_chains))
    index = torch.linspace(0, per_chain - 1, min(keep, per_chain)).round().long()
    draws = {}
    for name, value in posterior.samples.items():
        grouped = value.reshape((num_chains, per_chain) + value.shape[1:])
        draws[name] = grouped[:, index.to(value.device)]
    stats = {}
    for name, value in posterior.extras.get("sample_stats", {}).items():
        stats[name] = value.reshape(num_chains, per_chain)[:, index.to(value.device)]
    return draws, stats


def pointwise_log_likelihood(
    posterior: Posterior,
    draws: Mapping[str, torch.Tensor],
    kwargs: Mapping,
    layouts: list[SiteLayout],
    chunk_size: int = 50,
) -> dict[str, torch.Tensor]:
    r"""Return :math:`\log p(y_n \mid z^{(s)})` of each observed site, shape ``(S, *units)``.

    ``draws`` have a leading draw dimension ``S``. The model runs once per chunk of draws
    with the data observed and enumerated sites laid out left of the draws dimension, so
    that each observed site's log-density can be summed over the enumerated values it
    depends on (see :func:`_marginal_log_prob`).
    """
    scm = posterior.scm
    nesting = posterior.max_plate_nesting
    enumerated = poutine.enum(scm, first_available_dim=-(nesting + 2))
    chunks = {layout.name: [] for layout in layouts}
    for part in _chunks(draws, chunk_size):
        size = next(iter(part.values())).shape[0]
        trace = trace_over_draws(enumerated, part, kwargs, posterior.site_shapes, nesting)
        enumerated_sites = [
            site
            for site in trace.nodes.values()
            if site["type"] == "sample" and "_enumerate_dim" in site["infer"]
        ]
        for layout in layouts:
            site = trace.nodes[layout.site]
            log_prob = _marginal_log_prob(site, enumerated_sites, nesting)
            log_prob = draws_first(log_prob.detach(), size, nesting)
            log_prob = log_prob.reshape((size,) + layout.batch_shape)
            chunks[layout.name].append(layout.select(log_prob))
    return {name: torch.cat(parts) for name, parts in chunks.items()}


def _marginal_log_prob(site, enumerated_sites, nesting: int) -> torch.Tensor:
    r"""Return the log-density of an observed site with the enumerated sites summed out.

    With :math:`k` the values of the enumerated sites the observed site depends on,
    :math:`\log \sum_k p(k) p(y \mid k) - \log \sum_k p(k)`. The second term is zero for a
    proper distribution. It matters where an enumerated site is masked because its value is
    observed at that unit: its log-density is 0 for all ``K`` values there, so the first
    term alone would add :math:`\log K`.

    NOTE: this assumes that enumerated sites do not depend on one another, as in the
    built-in models, where each unobserved rating is summed out on its own.
    """
    log_prob = site["fn"].log_prob(site["value"])
    extra = log_prob.dim() - (nesting + 1)
    if extra <= 0:
        return log_prob
    prior = torch.zeros((), dtype=log_prob.dtype, device=log_prob.device)
    for other in enumerated_sites:
        dim = other["infer"]["_enumerate_dim"]
        if -dim > log_prob.dim() or log_prob.shape[dim] == 1:
            continue
        other_log_prob = other["fn"].log_prob(other["value"])
        if other["mask"] is not None:
            other_log_prob = other_log_prob.masked_fill(~other["mask"], 0.0)
        prior = prior + other_log_prob
    enum_dims = tuple(range(extra))
    joint = torch.broadcast_tensors(log_prob + prior, prior)
    return joint[0].logsumexp(enum_dims) - joint[1].logsumexp(enum_dims)


def _predictive(posterior, draws, data, layouts, chunk_size) -> dict[str, torch.Tensor]:
    scm = posterior.scm
    nesting = posterior.max_plate_nesting
    kwargs = scm.model_kwargs(data, observe=False)
    # A split site is replicated from a run with only that site unobserved, its values
    # enumerated left of the draws dimension.
    observed_kwargs = scm.model_kwargs(data)
    conditional = {
        layout.name: {**observed_kwargs, layout.name: None}
        for layout in layouts
        if layout.mask is not None
    }
    enumerated = poutine.enum(
        config_enumerate(scm, default="parallel"), first_available_dim=-(nesting + 2)
    )
    chunks = {layout.name: [] for layout in layouts}
    for part in _chunks(draws, chunk_size):
        size = next(iter(part.values())).shape[0]
        trace = trace_over_draws(scm, part, kwargs, posterior.site_shapes, nesting)
        for layout in layouts:
            site = trace.nodes[layout.name]
            event_shape = site["fn"].event_shape
            value = None
            if layout.mask is not None and not event_shape:
                value = _replicate_given_observed(
                    posterior, enumerated, part, conditional[layout.name], layout.name
                )
            if value is None:
                value = site["value"].detach()
            value = draws_first(value, size, nesting, len(event_shape))
            value = value.reshape((size,) + layout.batch_shape + event_shape)
            chunks[layout.name].append(layout.select(value))
    return {name: torch.cat(parts) for name, parts in chunks.items()}


def _replicate_given_observed(
    posterior, enumerated, draws, kwargs, name: str
) -> torch.Tensor | None:
    r"""Draw site ``name`` at every unit given the other observed sites, or None if it is not
    discrete.

    ``enumerated`` is the model under ``poutine.enum``, and ``kwargs`` has ``name`` set to
    None and every other observed site at its data. Each unit's value is drawn from
    :math:`p(k \mid z) \prod_o p(o \mid k, z)` over the enumerated values ``k``, where ``o``
    runs over the observed sites whose log-density depends on ``k``.
    """
    scm = posterior.scm
    nesting = posterior.max_plate_nesting
    trace = trace_over_draws(enumerated, draws, kwargs, posterior.site_shapes, nesting)
    site = trace.nodes[name]
    dim = site["infer"].get("_enumerate_dim")
    if dim is None:
        return None
    joint = site["fn"].log_prob(site["value"])
    for other in scm.observed:
        node = trace.nodes.get(other)
        if other == name or node is None or not node["is_observed"]:
            continue
        log_prob = node["fn"].log_prob(node["value"])
        if node["mask"] is not None:
            log_prob = log_prob.masked_fill(~node["mask"], 0.0)
        if log_prob.dim() >= -dim and log_prob.shape[dim] > 1:
            joint = joint + log_prob
    if joint.dim() > nesting + 2:
        # NOTE: other enumerated sites take part too. Summing them out is not implemented,
        # so such a site is replicated from its mechanism alone.
        return None
    values = site["value"].reshape(-1)
    index = torch.distributions.Categorical(logits=joint.movedim(dim, -1)).sample()
    return values[index].detach()


def _chunks(draws: Mapping[str, torch.Tensor], chunk_size: int):
    total = next(iter(draws.values())).shape[0]
    for start in range(0, total, chunk_size):
        yield {name: value[start : start + chunk_size] for name, value in draws.items()}


def _plate_sizes(trace) -> dict[str, int]:
    """Return the size of each plate dimension name used in the model."""
    sizes = {}
    for site in trace.nodes.values():
        if site["type"] != "sample":
            continue
        for frame in site["cond_indep_stack"]:
            if frame.vectorized:
                sizes[PLATE_DIMS.get(frame.name, frame.name)] = int(frame.size)
    return sizes


def _from_dict(groups: dict, *, coords: dict, dims: dict, attrs: dict):
    """Call ``az.from_dict`` with the groups as keywords (ArviZ < 1) or as one dict (ArviZ 1).

    ``attrs`` are set on every group afterwards, because ArviZ 0.23 gives them only to the
    groups without draws.
    """
    import arviz as az

    with warnings.catch_warnings():
        # ArviZ 0.x warns when a variable has more chains than draws; ours are laid out
        # (chain, draw) explicitly, so the warning does not apply.
        warnings.filterwarnings("ignore", message="More chains", category=UserWarning)
        if "posterior" in inspect.signature(az.from_dict).parameters:
            idata = az.from_dict(**groups, coords=coords, dims=dims)
        else:
            idata = az.from_dict(groups, coords=coords, dims=dims)
    for group in groups:
        idata[group].attrs.update(attrs)
    return idata
