"""The :class:`SCM` wrapper: a plain Pyro model plus the facts the causal layer needs."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping

import torch

__all__ = ["SCM", "INTERACTIONS"]

#: Name of the plate over user-item interactions. Minibatching subsamples this plate.
INTERACTIONS = "interactions"

#: Per-interaction keyword arguments of the data contract (see ``Split.to_kwargs``).
_ROW_ARGUMENTS = ("user", "item", "rating", "exposure", "propensity", "timestamp", "weight")


class SCM:
    """A structural causal model written as a plain Pyro callable.

    The toolkit never requires a subclass: any function that draws its variables with
    ``pyro.sample`` works. Site names are causal variable names; they are the nodes of the
    causal graph and the keys of interventions. Observed variables are keyword arguments
    conditioned with ``obs=``; passing ``None`` makes the model generate them.

    Parameters
    ----------
    model : callable
        The Pyro model, called with keyword arguments only, for example
        ``model(user=..., item=..., rating=None, n_users=..., n_items=...)``.
    observed : sequence of str
        Names of the observed sample sites. Each is also the name of the keyword argument that
        carries its data (``"rating"`` is passed as ``rating=`` and used as ``obs=``).
    plates : mapping of str to sequence of str, optional
        For each plate, the keyword arguments it indexes row by row. The default,
        ``{"interactions": ("user", "item")}``, says that the ``interactions`` plate runs over
        rows of ``user`` and ``item``. Minibatching slices those arguments, every observed
        argument and every other per-interaction column of the data contract
        (``exposure``, ``propensity``, ``timestamp``, ``weight``).
    graph : iterable of (str, str) pairs, optional
        The causal edges the author intends. ``scm.graph(data)`` reports every edge of the
        program that differs from it.
    config : mapping, optional
        Keyword arguments fixed for every call, such as ``{"dim": 8}``. They are saved with a
        posterior and restored on load.
    name : str, optional
        A display name; defaults to the model function's name.

    Examples
    --------
    >>> import pyro, pyro.distributions as dist
    >>> def model(user, item, rating=None, *, n_users, n_items):
    ...     bias = pyro.sample("bias", dist.Normal(0.0, 1.0))
    ...     with pyro.plate("interactions", user.shape[0]):
    ...         return pyro.sample("rating", dist.Normal(bias, 1.0), obs=rating)
    >>> scm = SCM(model, observed=("rating",))
    >>> scm.observed
    ('rating',)
    """

    def __init__(
        self,
        model: Callable,
        observed: Iterable[str] = (),
        *,
        plates: Mapping[str, Iterable[str]] | None = None,
        graph: Iterable[tuple[str, str]] | None = None,
        config: Mapping | None = None,
        name: str | None = None,
    ):
        if not callable(model):
            raise TypeError(f"SCM needs a callable Pyro model, got {type(model).__name__}.")
        if isinstance(observed, str):
            observed = (observed,)
        self.model = model
        self.observed = tuple(observed)
        if plates is None:
            plates = {INTERACTIONS: ("user", "item")}
        self.plates = {name: tuple(args) for name, args in plates.items()}
        self.declared_edges = None if graph is None else [tuple(edge) for edge in graph]
        self.config = dict(config or {})
        self.name = name or getattr(model, "__name__", type(model).__name__)
        self._signature = _signature_of(model)

    def __call__(self, *args, **kwargs):
        return self.model(*args, **{**self.config, **kwargs})

    def __repr__(self) -> str:
        return f"SCM({self.name}, observed={self.observed}, config={self.config})"

    def configure(self, **config) -> SCM:
        """Return a copy of this SCM with more keyword arguments fixed."""
        return SCM(
            self.model,
            self.observed,
            plates=self.plates,
            graph=self.declared_edges,
            config={**self.config, **config},
            name=self.name,
        )

    # ----------------------------------------------------------------- data
    def model_kwargs(self, data, *, observe: bool = True) -> dict:
        """Turn ``data`` into the keyword arguments of the model.

        ``data`` is a :class:`~causalrec_pyro.data.Split`, a
        :class:`~causalrec_pyro.data.RatingData` (its ``"train"`` split is used) or a dict of
        keyword arguments. Keys the model does not accept are dropped unless the model takes
        ``**kwargs``. With ``observe=False`` every observed site's argument is set to ``None``
        so that the model generates it.
        """
        kwargs = _as_kwargs(data)
        accepts_any, names = self._signature
        if not accepts_any:
            kwargs = {k: v for k, v in kwargs.items() if k in names}
        if not observe:
            for site in self.observed:
                if site in kwargs or site in names or accepts_any:
                    kwargs[site] = None
        return kwargs

    def row_arguments(self, kwargs: Mapping) -> list[str]:
        """Names of the tensor arguments in ``kwargs`` indexed by the interaction plate."""
        names = set(self.plates.get(INTERACTIONS, ())) | set(self.observed) | set(_ROW_ARGUMENTS)
        return [k for k in kwargs if k in names and isinstance(kwargs[k], torch.Tensor)]

    # ----------------------------------------------------------- persistence
    def spec(self) -> dict:
        """Return what is needed to rebuild this SCM: the model's import path and settings."""
        module = getattr(self.model, "__module__", None)
        qualname = getattr(self.model, "__qualname__", None)
        return {
            "model": f"{module}:{qualname}" if module and qualname else None,
            "observed": list(self.observed),
            "plates": {k: list(v) for k, v in self.plates.items()},
            "graph": None
            if self.declared_edges is None
            else [list(e) for e in self.declared_edges],
            "config": self.config,
            "name": self.name,
        }

    @classmethod
    def from_spec(cls, spec: Mapping) -> SCM:
        """Rebuild an SCM from :meth:`spec`; the model must be importable by its path."""
        path = spec.get("model")
        if not path or "<locals>" in path or "<lambda>" in path:
            raise ValueError(
                f"The saved model {spec.get('name')!r} has no importable path ({path!r}). "
                "Pass the SCM to Posterior.load(path, scm=...) instead."
            )
        module_name, _, qualname = path.partition(":")
        try:
            target = importlib.import_module(module_name)
            for part in qualname.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as error:
            raise ValueError(
                f"Cannot import the saved model {path!r} ({error}). Make its module importable "
                "or pass the SCM to Posterior.load(path, scm=...)."
            ) from None
        graph = spec.get("graph")
        return cls(
            target,
            spec.get("observed", ()),
            plates=spec.get("plates"),
            graph=None if graph is None else [tuple(e) for e in graph],
            config=spec.get("config"),
            name=spec.get("name"),
        )

    # --------------------------------------------------------------- causal
    def graph(self, data):
        """Return the :class:`~causalrec_pyro.causal.CausalGraph` extracted from the program."""
        from causalrec_pyro.causal.graph import CausalGraph

        return CausalGraph.from_scm(self, data)


def _signature_of(model: Callable) -> tuple[bool, frozenset]:
    try:
        parameters = inspect.signature(model).parameters.values()
    except (TypeError, ValueError):
        return True, frozenset()
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    return accepts_any, frozenset(p.name for p in parameters)


def _as_kwargs(data) -> dict:
    from causalrec_pyro.data.core import RatingData, Split

    if isinstance(data, RatingData):
        data = data["train"]
    if isinstance(data, Split):
        return data.to_kwargs()
    if isinstance(data, Mapping):
        return dict(data)
    raise TypeError(
        f"data must be a RatingData, a Split or a dict of model keyword arguments, "
        f"got {type(data).__name__}."
    )
