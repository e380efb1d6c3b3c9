"""The :class:`Posterior`: what fitting returns and every query takes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pyro
import pyro.poutine as poutine
import torch

from causalrec_pyro.atomic import atomic_path
from causalrec_pyro.inference.guides import make_guide
from causalrec_pyro.inference.traces import (
    DRAWS,
    latent_sites,
    max_plate_nesting,
    prototype_trace,
    site_shapes,
)
from causalrec_pyro.models.scm import SCM

__all__ = ["Posterior"]

_FORMAT_VERSION = 1


class Posterior:
    """Posterior over the latent sites of an :class:`~causalrec_pyro.SCM`.

    A posterior is backed either by a fitted guide (``fit_svi``) or by stored draws
    (``fit_nuts``, :meth:`from_samples`). Both give the same interface: :meth:`sample` returns a
    dict of tensors with a leading draw dimension, which every query consumes.

    Attributes
    ----------
    scm : SCM
        The model.
    site_shapes : dict
        ``(batch_shape, event_shape)`` of each latent site.
    max_plate_nesting : int
        Number of plate dimensions the model uses.
    loss_history : list of float
        The ELBO loss of each SVI step (empty for other posteriors).
    data_schema : dict
        Sizes and columns of the data the posterior was fitted on.
    fit_config : dict
        The fitting settings, such as ``num_steps`` and ``lr``.
    """

    def __init__(
        self,
        scm: SCM,
        *,
        site_shapes: Mapping,
        max_plate_nesting: int,
        guide: Callable | None = None,
        guide_kind: str | None = None,
        param_state: dict | None = None,
        samples: Mapping[str, torch.Tensor] | None = None,
        prototype_kwargs: Mapping | None = None,
        loss_history=None,
        data_schema: Mapping | None = None,
        fit_config: Mapping | None = None,
        extras: Mapping | None = None,
    ):
        if (guide is None) == (samples is None):
            raise ValueError("A Posterior needs exactly one of guide= or samples=.")
        self.scm = scm
        self.site_shapes = dict(site_shapes)
        self.max_plate_nesting = int(max_plate_nesting)
        self.guide = guide
        self.guide_kind = guide_kind
        self.param_state = param_state
        self.samples = None if samples is None else {k: v for k, v in samples.items()}
        self.prototype_kwargs = dict(prototype_kwargs or {})
        self.loss_history = list(loss_history or [])
        self.data_schema = dict(data_schema or {})
        self.fit_config = dict(fit_config or {})
        #: Extra results kept with the posterior, such as NUTS sample statistics.
        self.extras = dict(extras or {})

    def __repr__(self) -> str:
        source = f"guide={self.guide_kind}" if self.guide is not None else "stored draws"
        return f"Posterior({self.scm.name}, {source}, sites={sorted(self.site_shapes)})"

    @property
    def latent_names(self) -> list[str]:
        return list(self.site_shapes)

    @property
    def is_point_estimate(self) -> bool:
        """True for a ``"delta"`` (MAP) guide: every draw is the same point, so intervals
        computed from the draws carry no posterior uncertainty."""
        return self.guide is not None and self.guide_kind == "delta"

    @property
    def num_stored(self) -> int | None:
        """Number of stored draws, or None for a guide-backed posterior."""
        if self.samples is None:
            return None
        return int(next(iter(self.samples.values())).shape[0])

    # -------------------------------------------------------------- sampling
    @contextlib.contextmanager
    def _params(self):
        """Swap this posterior's parameters into Pyro's global parameter store."""
        if self.param_state is None:
            yield
            return
        with pyro.get_param_store().scope(self.param_state):
            yield

    def sample(self, num_samples: int = 100, seed: int | None = None) -> dict[str, torch.Tensor]:
        """Draw latent values, returned as ``{site: tensor of shape (num_samples, *site_shape)}``.

        A guide-backed posterior draws from the guide in one vectorized pass. A posterior of
        stored draws returns them all when ``num_samples`` equals their number, and otherwise
        picks ``num_samples`` of them at random (without replacement when there are enough).
        ``seed`` makes the draws repeatable without touching the global random state.
        """
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            if self.samples is not None:
                return self._pick_stored(num_samples)
            return self._sample_guide(num_samples)

    def _pick_stored(self, num_samples: int) -> dict[str, torch.Tensor]:
        total = self.num_stored
        if num_samples == total:
            return dict(self.samples)
        if num_samples < total:
            index = torch.randperm(total)[:num_samples]
        else:
            index = torch.randint(total, (num_samples,))
        return {k: v[index.to(v.device)] for k, v in self.samples.items()}

    def _sample_guide(self, num_samples: int) -> dict[str, torch.Tensor]:
        with self._params(), poutine.block():
            with pyro.plate(DRAWS, num_samples, dim=-(self.max_plate_nesting + 1)):
                trace = poutine.trace(self.guide).get_trace(**self.prototype_kwargs)
        draws = {}
        for name, (batch_shape, event_shape) in self.site_shapes.items():
            if name not in trace.nodes:
                raise KeyError(
                    f"The guide did not sample the latent site {name!r}; a custom guide must "
                    "sample every latent site of the model."
                )
            value = trace.nodes[name]["value"].detach()
            site_shape = batch_shape + event_shape
            # The value has shape (S, 1, ..., *site_shape), or site_shape alone when the guide
            # does not vary over draws. Both reshape to (S or 1, *site_shape).
            draws[name] = value.reshape((-1,) + site_shape).expand((num_samples,) + site_shape)
        return draws

    def mean(self, num_samples: int = 200, seed: int | None = 0) -> dict[str, torch.Tensor]:
        """Return the posterior mean of each latent site, estimated from draws."""
        return {k: v.mean(0) for k, v in self.sample(num_samples, seed=seed).items()}

    # ----------------------------------------------------------- construction
    @classmethod
    def from_samples(
        cls, scm: SCM, samples: Mapping[str, torch.Tensor], data=None, **kwargs
    ) -> Posterior:
        """Build a posterior from given draws, each with a leading draw dimension.

        Use it for known parameters (one draw) or draws made elsewhere. With ``data``, the
        model is run once to check that every latent site has draws of the right shape.
        Without it, the site shapes are taken from the draws.
        """
        if not samples:
            raise ValueError("from_samples needs at least one site with draws, got none.")
        sizes = {name: int(value.shape[0]) for name, value in samples.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"All sites need the same number of draws; got {sizes}.")
        if data is None:
            shapes = {k: (v.shape[1:], torch.Size()) for k, v in samples.items()}
            return cls(scm, site_shapes=shapes, max_plate_nesting=1, samples=samples, **kwargs)
        model_kwargs = scm.model_kwargs(data)
        trace = prototype_trace(scm, model_kwargs)
        shapes = site_shapes(trace, latent_sites(trace))
        missing = sorted(set(shapes) - set(samples))
        if missing:
            raise ValueError(
                f"No draws for the latent site(s) {missing}; pass a tensor of shape "
                f"(num_draws, *site_shape) for each. Latent sites: {sorted(shapes)}."
            )
        unknown = sorted(set(samples) - set(shapes))
        if unknown:
            raise ValueError(
                f"Draws given for {unknown}, which are not latent sites of the model; "
                f"its latent sites are {sorted(shapes)}."
            )
        for name, (batch_shape, event_shape) in shapes.items():
            expected = batch_shape + event_shape
            if samples[name].shape[1:] != expected:
                raise ValueError(
                    f"Draws of site {name!r} have shape {tuple(samples[name].shape)}, expected "
                    f"(num_draws, {', '.join(map(str, expected))})."
                )
        return cls(
            scm,
            site_shapes=shapes,
            max_plate_nesting=max_plate_nesting(trace),
            samples=samples,
            **kwargs,
        )

    # ------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the posterior to ``path`` atomically (temporary file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "format": _FORMAT_VERSION,
            "scm": self.scm.spec(),
            "site_shapes": {k: [list(b), list(e)] for k, (b, e) in self.site_shapes.items()},
            "max_plate_nesting": self.max_plate_nesting,
            "guide_kind": self.guide_kind,
            "param_state": _to_cpu(self.param_state),
            "samples": _to_cpu(self.samples),
            "prototype_kwargs": _to_cpu(self.prototype_kwargs),
            "loss_history": self.loss_history,
            "data_schema": self.data_schema,
            "fit_config": self.fit_config,
            "extras": _to_cpu(self.extras),
        }
        with atomic_path(path) as temporary:
            torch.save(state, temporary)
        return path

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        scm: SCM | None = None,
        guide: Callable | None = None,
        map_location: str | torch.device = "cpu",
    ) -> Posterior:
        """Read a posterior written by :meth:`save`.

        The model is imported by the path saved with it; pass ``scm`` for a model that is not
        importable (one defined inside a function or a notebook). A posterior fitted with a
        custom guide callable needs that ``guide`` again; named guides are rebuilt.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No posterior file at {str(path)!r}; check the run directory.")
        # The file contains Pyro constraint objects next to tensors, so it is unpickled in full.
        # NOTE: only load posterior files you trust, as with any pickle.
        state = torch.load(path, map_location=map_location, weights_only=False)
        if not isinstance(state, dict) or state.get("format") != _FORMAT_VERSION:
            raise ValueError(
                f"{str(path)!r} is not a causalrec_pyro posterior of format {_FORMAT_VERSION}."
            )
        if scm is None:
            scm = SCM.from_spec(state["scm"])
        shapes = {k: (torch.Size(b), torch.Size(e)) for k, (b, e) in state["site_shapes"].items()}
        common = dict(
            site_shapes=shapes,
            max_plate_nesting=state["max_plate_nesting"],
            prototype_kwargs=state["prototype_kwargs"],
            loss_history=state["loss_history"],
            data_schema=state["data_schema"],
            fit_config=state["fit_config"],
            extras=state.get("extras"),
        )
        if state["samples"] is not None:
            return cls(scm, samples=state["samples"], **common)
        kind = state["guide_kind"]
        if guide is None:
            if kind == "custom":
                raise ValueError(
                    f"{str(path)!r} was fitted with a custom guide; pass it again with "
                    "Posterior.load(path, guide=...)."
                )
            guide = make_guide(scm, kind, **state["fit_config"].get("guide_options", {}))
        param_state = state["param_state"]
        with pyro.get_param_store().scope(param_state), poutine.block():
            guide(**state["prototype_kwargs"])  # builds the guide's parameters from the store
        return cls(scm, guide=guide, guide_kind=kind, param_state=param_state, **common)


def _to_cpu(value):
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, Mapping):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value
