"""Samples of a model under ``pyro.poutine.do``, vectorized over posterior draws and units.

This module also contains the preparation shared by every causal query: the model's keyword
arguments, the posterior draws, the model's sites and the checked intervention values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping

import pyro.poutine as poutine
import torch
from pyro.poutine.util import site_is_subsample

from causalrec_pyro.causal.graph import CausalGraph
from causalrec_pyro.inference.posterior import Posterior
from causalrec_pyro.inference.traces import draws_first, prototype_trace, trace_over_draws

__all__ = ["intervene"]

#: Upper bound on draws x units traced at once when no ``chunk_size`` is given. A chunk of
#: matrix factorization with ``dim=8`` then needs about 130 MB of temporaries (an estimate from
#: the (draws, units, dim) float32 products).
_ELEMENTS_PER_CHUNK = 4_000_000


def intervene(
    posterior: Posterior,
    intervention: Mapping,
    data,
    return_sites=None,
    num_samples: int = 100,
    seed: int | None = 0,
    *,
    condition: Mapping | None = None,
    keep_observed: bool = True,
    statistic: str = "sample",
    chunk_size: int | None = None,
) -> dict[str, torch.Tensor]:
    r"""Sample the model under an intervention, for every posterior draw and unit of ``data``.

    For draw :math:`z^{(s)}` of the latents and unit :math:`n`, site :math:`y` is sampled from
    :math:`p(y_n \mid do(t = t^*), z^{(s)}, x_n, o_n)`: the model runs with ``pyro.poutine.do``,
    so the intervened site takes the given value and its own causes stop acting on it.
    :math:`o_n` are the unit's observed values of the sites that do not descend from :math:`t`
    in the model's graph. They are facts about the unit that the intervention does not change,
    so they keep their values from ``data`` (``keep_observed=False`` generates them too). The
    observed sites that descend from :math:`t` are generated.

    Parameters
    ----------
    posterior : Posterior
        Draws of the latent sites.
    intervention : mapping of str to value
        Site name to its value: a number, or a tensor with the site's shape (``(N,)`` for a site
        in the interaction plate, one value per unit). A value may also be a callable that takes
        the model's keyword arguments for ``data`` (observed columns included) and returns such
        a value, for example a recommendation policy that chooses which pairs are exposed.
    data : Split, RatingData or dict
        The units: a split, a data set (its ``"train"`` split) or the model's keyword arguments.
    return_sites : iterable of str, optional
        Sites to return; by default the model's observed sites.
    num_samples : int
        Number of posterior draws ``S``.
    seed : int, optional
        Seed of the posterior draws and the model's sampling; the global random state is left
        untouched.
    condition : mapping of str to tensor, optional
        More values to condition on inside the intervened model (``do`` applied to the
        conditioned model); they take precedence over the kept observed values. Conditioning
        and intervening on different sites commute.
    keep_observed : bool
        Hold the observed sites that do not descend from the intervened sites at their values
        in ``data``.
    statistic : {"sample", "mean"}
        ``"sample"`` returns sampled values; ``"mean"`` returns each site's distribution mean
        given the draws and its sampled parents, :math:`E[y_n \mid do(t=t^*), z^{(s)}]` when
        no random site lies between the intervention and ``y``.
    chunk_size : int, optional
        Draws traced at once; by default chosen so a chunk has about four million
        draw-unit pairs.

    Returns
    -------
    dict of str to torch.Tensor
        ``{site: tensor of shape (S, N)}`` for sites in the interaction plate; other sites have
        shape ``(S, *site_shape)``. An intervened site returns its intervened value.

    Raises
    ------
    ValueError
        For an unknown site, an intervention value of the wrong shape or an unknown
        ``statistic``.
    """
    if statistic not in ("sample", "mean"):
        raise ValueError(f"statistic must be 'sample' or 'mean', got {statistic!r}.")
    query = prepare_query(posterior, data, num_samples, seed)
    with query.seeded():
        values = query.resolve(intervention)
        conditions = query.resolve(condition or {}, argument="condition")
        if keep_observed:
            conditions = {**query.unaffected_observed(set(values)), **conditions}
        sites = list(posterior.scm.observed) if return_sites is None else list(return_sites)
        sites = [site for site in sites if return_sites is not None or site in query.sites]
        query.check_sites(sites, argument="return_sites")
        model = poutine.condition(query.scm, data=conditions) if conditions else query.scm
        chunks = {site: [] for site in sites}
        for draws, size in query.chunks(chunk_size):
            trace = query.trace(model, draws, values)
            for site in sites:
                chunks[site].append(query.site_value(trace, site, values, size, statistic))
    return {site: torch.cat(parts, dim=0) for site, parts in chunks.items()}


@dataclasses.dataclass
class Query:
    """Inputs of one causal query, prepared and checked once."""

    posterior: Posterior
    kwargs: dict
    observed_kwargs: dict
    draws: dict
    sites: dict
    num_samples: int
    num_units: int
    device: torch.device | None
    seed: int | None

    @property
    def scm(self):
        return self.posterior.scm

    @property
    def nesting(self) -> int:
        return self.posterior.max_plate_nesting

    @contextlib.contextmanager
    def seeded(self):
        """Run the block on a forked random state seeded with the query's seed."""
        devices = [self.device] if self.device is not None and self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if self.seed is not None:
                torch.manual_seed(self.seed)
            yield

    @functools.cached_property
    def graph(self) -> CausalGraph:
        """The model's graph, with the declared edges the program hides (see CausalGraph)."""
        return CausalGraph.from_scm(self.scm, self.kwargs).with_declared_edges()

    def unaffected_observed(self, intervened: set[str]) -> dict:
        """Return the observed values of the sites that do not descend from ``intervened``."""
        observed = [
            site for site in self.scm.observed if self.observed_kwargs.get(site) is not None
        ]
        if not observed:
            return {}  # nothing to keep, so the graph is not needed
        affected = set(intervened)
        for site in intervened:
            if site in self.graph.nx:
                affected |= self.graph.descendants(site)
        return {
            site: self.observed_kwargs[site]
            for site in observed
            if site in self.sites and site not in affected
        }

    def check_sites(self, names, argument: str) -> None:
        """Raise ValueError for a name that is not a sample site of the model."""
        for name in names:
            if name not in self.sites:
                raise ValueError(
                    f"{argument} names the site {name!r}, but model {self.scm.name!r} has no "
                    f"sample site of that name; its sites are {sorted(self.sites)}."
                )

    def resolve(self, values: Mapping, argument: str = "intervention") -> dict:
        """Check each site and turn each value into a tensor of the site's shape."""
        if not isinstance(values, Mapping):
            raise TypeError(
                f"{argument} must be a dict of site name to value, got {type(values).__name__}."
            )
        resolved = {}
        for site, value in values.items():
            self.check_sites([site], argument)
            prototype = self.sites[site]["value"]
            if callable(value):
                value = value(dict(self.observed_kwargs))
            value = torch.as_tensor(value, dtype=prototype.dtype, device=prototype.device)
            if value.shape == ():
                value = value.expand(prototype.shape)
            elif value.shape != prototype.shape:
                raise ValueError(
                    f"The {argument} value for site {site!r} has shape {tuple(value.shape)}, "
                    f"expected a scalar or shape {tuple(prototype.shape)} (one value per "
                    "element of the site, such as one per unit of the data)."
                )
            self._check_support(site, value, argument)
            resolved[site] = value
        return resolved

    def _check_support(self, site: str, value: torch.Tensor, argument: str) -> None:
        """Reject a value outside the site's support, which a model might clamp silently."""
        fn = self.sites[site]["fn"]
        if self.sites[site]["infer"].get("_deterministic"):
            return
        try:
            inside = fn.support.check(value)
        except (NotImplementedError, RuntimeError):
            return
        if not bool(torch.as_tensor(inside).all()):
            bad = value[~torch.as_tensor(inside, dtype=torch.bool).expand(value.shape)]
            raise ValueError(
                f"The {argument} value {bad.flatten()[0].item()} for site {site!r} is outside "
                f"its support ({fn.support}); the site's distribution is "
                f"{type(fn).__name__}. Choose a value the site can take."
            )

    def chunks(self, chunk_size: int | None) -> Iterator[tuple[dict, int]]:
        """Yield ``(draws, size)`` for consecutive chunks of the posterior draws."""
        if chunk_size is None:
            chunk_size = max(1, _ELEMENTS_PER_CHUNK // max(self.num_units, 1))
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1 or None, got {chunk_size}.")
        for start in range(0, self.num_samples, chunk_size):
            part = {name: value[start : start + chunk_size] for name, value in self.draws.items()}
            yield part, min(chunk_size, self.num_samples - start)

    def trace(self, model: Callable, draws: dict, interventions: Mapping | None = None):
        """Trace ``model`` over a chunk of draws, under ``pyro.poutine.do`` when asked."""
        return trace_over_draws(
            model,
            draws,
            self.kwargs,
            self.posterior.site_shapes,
            self.nesting,
            interventions=interventions,
        )

    def site_value(self, trace, site: str, interventions, size: int, statistic: str):
        """Return a site's sample or mean from ``trace`` with the draws first."""
        node = trace.nodes[site]
        if site in interventions:
            # Pyro's do handler records the site's natural value; the intervened copy, which
            # the downstream sites use, is not in the trace.
            value = interventions[site]
        else:
            value = node["value"] if statistic == "sample" else node["fn"].mean
        return draws_first(value.detach(), size, self.nesting, event_dim(node, self.nesting))


def prepare_query(posterior: Posterior, data, num_samples: int, seed: int | None) -> Query:
    """Build the model's keyword arguments, draw the latents and trace the model once."""
    if not isinstance(posterior, Posterior):
        raise TypeError(f"posterior must be a Posterior, got {type(posterior).__name__}.")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}.")

    scm = posterior.scm
    kwargs = scm.model_kwargs(data, observe=False)
    observed_kwargs = scm.model_kwargs(data, observe=True)
    device = next((v.device for v in kwargs.values() if isinstance(v, torch.Tensor)), None)
    rows = scm.row_arguments(observed_kwargs)
    num_units = int(observed_kwargs[rows[0]].shape[0]) if rows else 1
    devices = [device] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(0 if seed is None else seed)
        trace = prototype_trace(scm, kwargs)

    sites = {
        name: site
        for name, site in trace.nodes.items()
        if site["type"] == "sample" and not site_is_subsample(site)
    }
    for name, (batch_shape, event_shape) in posterior.site_shapes.items():
        if name not in sites:
            continue
        expected = tuple(sites[name]["fn"].batch_shape + sites[name]["fn"].event_shape)
        if tuple(batch_shape + event_shape) != expected:
            raise ValueError(
                f"Latent site {name!r} has shape {tuple(batch_shape + event_shape)} in the "
                f"posterior but {expected} for this data. A latent with one value per user, "
                "item or unit needs the same users, items or units the posterior was fitted "
                "on; pass data over that index space."
            )

    draws = posterior.sample(num_samples, seed=seed)
    if device is not None:
        draws = {name: value.to(device) for name, value in draws.items()}
    return Query(
        posterior=posterior,
        kwargs=kwargs,
        observed_kwargs=observed_kwargs,
        draws=draws,
        sites=sites,
        num_samples=num_samples,
        num_units=num_units,
        device=device,
        seed=seed,
    )


def event_dim(node, nesting: int) -> int:
    """Return the number of event dimensions of a traced site's value.

    ``pyro.deterministic`` declares its whole value as one event, draws dimension included, so
    for such a site the dimensions right of the plates count instead.
    """
    if node["infer"].get("_deterministic"):
        return max(0, node["value"].dim() - (nesting + 1))
    return node["fn"].event_dim


def rng_state(device: torch.device | None):
    """Return the state of the generator that sampling on ``device`` uses."""
    if device is not None and device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    return torch.get_rng_state()


def set_rng_state(state, device: torch.device | None) -> None:
    """Restore a state returned by :func:`rng_state`."""
    if device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)
