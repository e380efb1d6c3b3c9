"""Check a user-written model against the model contract before fitting it."""

from __future__ import annotations

import dataclasses

import torch
from pyro.poutine.util import site_is_subsample

from causalrec_pyro.inference.traces import is_enumerated, prototype_trace
from causalrec_pyro.models.scm import INTERACTIONS, SCM

__all__ = ["ModelCheck", "PlateInfo", "Problem", "SiteInfo", "check_scm"]

#: Plate that a per-unit dimension belongs in, by the data size it matches.
_ENTITY_PLATES = (("n_users", "users"), ("n_items", "items"))


@dataclasses.dataclass
class SiteInfo:
    """One sample site as the model drew it with the data given."""

    name: str
    distribution: str
    batch_shape: tuple
    event_shape: tuple
    plates: tuple
    observed: bool
    enumerated: bool = False
    has_cdf: bool = False
    counterfactual_ready: bool = False
    note: str = ""

    def describe(self) -> str:
        plates = ", ".join(self.plates) if self.plates else "none (global)"
        text = (
            f"{self.name}: {self.distribution}, batch shape {self.batch_shape}, "
            f"event shape {self.event_shape}, plates: {plates}"
        )
        if self.enumerated:
            text += "; summed out by enumeration"
        if self.has_cdf:
            text += "; has a CDF"
        if self.counterfactual_ready and not self.has_cdf:
            text += "; ready for CDF counterfactuals"
        if self.note:
            text += f"; {self.note}"
        return text


@dataclasses.dataclass
class PlateInfo:
    """A plate of the model: its size and the tensor dimension it indexes."""

    name: str
    size: int
    dim: int | None


@dataclasses.dataclass
class Problem:
    """Something in the model that breaks the model contract, and how to fix it."""

    site: str | None
    kind: str
    message: str
    fix: str


@dataclasses.dataclass
class ModelCheck:
    """The result of :func:`check_scm`: the model's sites and plates, and its problems.

    Attributes
    ----------
    model : str
        The SCM's name.
    observed, latent : list of SiteInfo
        The observed and the latent sample sites, in the order the model drew them.
    plates : list of PlateInfo
        Every plate the model entered.
    problems : list of Problem
        Each problem found, with a fix; empty for a model that follows the contract.
    """

    model: str
    observed: list
    latent: list
    plates: list
    problems: list

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def cdf_ready(self) -> list[str]:
        """Observed sites whose noise the CDF-matching counterfactuals can abduct."""
        return [site.name for site in self.observed if site.counterfactual_ready]

    def kinds(self) -> set[str]:
        """Return the kinds of the problems found, such as ``"unplated_dimension"``."""
        return {problem.kind for problem in self.problems}

    def __str__(self) -> str:
        lines = [f"Model check of {self.model!r}"]
        lines.append("Observed sites:")
        lines += [f"  {site.describe()}" for site in self.observed] or ["  none"]
        lines.append("Latent sites:")
        lines += [f"  {site.describe()}" for site in self.latent] or ["  none"]
        lines.append("Plates:")
        lines += [f"  {p.name}: size {p.size}, dim {p.dim}" for p in self.plates] or ["  none"]
        ready = ", ".join(self.cdf_ready) or "none"
        lines.append(f"Observed sites ready for CDF counterfactuals: {ready}")
        if not self.problems:
            lines.append("Problems: none")
        else:
            lines.append(f"Problems ({len(self.problems)}):")
            for number, problem in enumerate(self.problems, start=1):
                lines.append(f"  {number}. [{problem.kind}] {problem.message}")
                lines.append(f"     Fix: {problem.fix}")
        return "\n".join(lines)


def check_scm(scm: SCM, data) -> ModelCheck:
    """Run ``scm`` once on ``data`` and report its sites, plates and contract problems.

    The report lists the observed and latent sites in plain words and the plates. For each
    site it records whether ``fn.cdf`` works on its value (``has_cdf``), and whether the
    CDF-matching counterfactuals can abduct its noise (``counterfactual_ready``). Those need a
    univariate CDF, which they also build for Bernoulli, Categorical and Poisson sites.
    It finds these problems, each with a fix:

    - ``model_error``: the model raised an error when run on the data.
    - ``unplated_dimension``: a site has a batch dimension of size greater than one that no
      enclosing plate declares, such as a per-user latent drawn outside the ``users`` plate.
    - ``interaction_shape``: a site in the ``interactions`` plate whose batch shape is not
      ``(N,)`` (an input of shape ``(N, 1)`` broadcast against the plate).
    - ``shape_mismatch``: an observed value whose shape differs from the distribution's
      batch and event shape, so that the log-density broadcasts.
    - ``outside_support``: an observed value outside the distribution's support.
    - ``missing_observed`` / ``undeclared_observed``: ``SCM(observed=...)`` and the
      model's ``obs=`` sites disagree.
    - ``discrete_latent``: a discrete latent site that is not enumerated, which SVI with
      the autoguides and NUTS cannot fit.
    """
    kwargs = scm.model_kwargs(data)
    try:
        trace = prototype_trace(scm, kwargs)
    except Exception as error:  # any failure of user code is reported, not raised
        problem = Problem(
            None,
            "model_error",
            f"Running the model on the data raised {type(error).__name__}: {error}",
            "Fix the error above; for a plate shape mismatch, check that every "
            "per-interaction tensor has one entry per row and latents are indexed with "
            "[..., user] or [..., item].",
        )
        return ModelCheck(scm.name, [], [], [], [problem])

    sizes = _data_sizes(scm, kwargs)
    observed, latent, problems = [], [], []
    plates = {}
    for name, site in trace.nodes.items():
        if site["type"] != "sample" or site_is_subsample(site):
            continue
        for frame in site["cond_indep_stack"]:
            if frame.vectorized and frame.name not in plates:
                plates[frame.name] = PlateInfo(frame.name, int(frame.size), frame.dim)
        if site["infer"].get("_deterministic"):
            continue
        display = _display_name(name, trace)
        info = _site_info(display, site, trace)
        shape_problems = _shape_problems(display, site, sizes)
        problems += shape_problems
        if site["is_observed"]:
            # A distribution of the wrong shape is the cause; comparing the data to it misleads.
            if not shape_problems:
                problems += _observed_problems(display, site)
            observed.append(info)
        else:
            latent.append(info)
            if site["fn"].support.is_discrete and not info.enumerated:
                problems.append(
                    Problem(
                        name,
                        "discrete_latent",
                        f"Latent site {name!r} is discrete and not enumerated; SVI with the "
                        "autoguides and NUTS can only fit continuous latents.",
                        "Observe it (add it to SCM(observed=...) and pass its data), or draw "
                        "it with infer={'enumerate': 'parallel'} so that it is summed out.",
                    )
                )
    problems += _declaration_problems(scm, trace, observed)
    return ModelCheck(scm.name, observed, latent, list(plates.values()), problems)


def _display_name(name: str, trace) -> str:
    """Map the observed half of a site split by ``obs_mask`` back to the site's name."""
    base = name.removesuffix("_observed")
    if base != name and base in trace.nodes and trace.nodes[base]["infer"].get("_deterministic"):
        return base
    return name


def _site_info(display: str, site, trace) -> SiteInfo:
    fn = site["fn"]
    note = ""
    if display != site["name"]:
        mask = site["mask"]
        total = fn.batch_shape.numel()
        seen = total if mask is None else int(mask.expand(fn.batch_shape).sum())
        note = f"split by obs_mask: observed at {seen} of {total} units"
    has_cdf = _has_cdf(fn, site["value"])
    return SiteInfo(
        name=display,
        distribution=_distribution_name(fn),
        batch_shape=tuple(fn.batch_shape),
        event_shape=tuple(fn.event_shape),
        plates=tuple(f.name for f in reversed(site["cond_indep_stack"]) if f.vectorized),
        observed=bool(site["is_observed"]),
        enumerated=is_enumerated(site),
        has_cdf=has_cdf,
        counterfactual_ready=_counterfactual_ready(fn, has_cdf),
        note=note,
    )


def _distribution_name(fn) -> str:
    name = type(fn).__name__
    base = getattr(fn, "base_dist", None)
    return f"{name}({_distribution_name(base)})" if base is not None else name


def _has_cdf(fn, value: torch.Tensor) -> bool:
    """Return True when ``fn`` is univariate and ``fn.cdf`` evaluates on ``value``."""
    if fn.event_shape:
        return False
    try:
        fn.cdf(value)
    except NotImplementedError:
        return False
    except (ValueError, RuntimeError):
        # A value the CDF rejects (outside the support, wrong shape) is reported elsewhere.
        return False
    return True


def _counterfactual_ready(fn, has_cdf: bool) -> bool:
    """Return True when the counterfactual layer can abduct the noise of a site with ``fn``."""
    try:
        from causalrec_pyro.causal.noise import noise_kind
    except ImportError:
        return has_cdf
    return noise_kind(fn) not in (None, "deterministic")


def _data_sizes(scm: SCM, kwargs) -> dict[str, int]:
    sizes = {}
    for key, _plate in _ENTITY_PLATES:
        if isinstance(kwargs.get(key), int):
            sizes[key] = kwargs[key]
    rows = scm.row_arguments(kwargs)
    if rows:
        sizes["rows"] = int(kwargs[rows[0]].shape[0])
    return sizes


def _shape_problems(name: str, site, sizes: dict) -> list[Problem]:
    fn = site["fn"]
    batch_shape = tuple(fn.batch_shape)
    frames = {f.dim: f for f in site["cond_indep_stack"] if f.vectorized}
    in_interactions = any(f.name == INTERACTIONS for f in frames.values())
    stray = [
        (position - len(batch_shape), size)
        for position, size in enumerate(batch_shape)
        if size > 1 and (position - len(batch_shape)) not in frames
    ]
    if not stray:
        return []
    if in_interactions:
        expected = (sizes.get("rows", "N"),)
        return [
            Problem(
                name,
                "interaction_shape",
                f"Site {name!r} is in the {INTERACTIONS!r} plate, so its batch shape should be "
                f"{expected}, but it is {batch_shape}: a tensor of shape (N, 1) or (1, N) "
                "broadcast against the plate.",
                "Keep per-interaction tensors one-dimensional, of shape (N,), and index "
                "per-user and per-item latents with [..., user] and [..., item].",
            )
        ]
    problems = []
    for dim, size in stray:
        plate = _plate_for_size(size, sizes)
        where = f" (the number of {plate})" if plate else ""
        if plate:
            fix = (
                f"Draw it inside `with pyro.plate({plate!r}, {size}, dim={dim}):`; per-unit "
                "latents outside their plate get the wrong log-density scale and cannot be "
                "subsampled or vectorized over posterior draws."
            )
        else:
            fix = (
                f"Draw it inside a plate of size {size} at dim {dim}, or, if the values "
                "belong together as one vector, declare the dimension as an event "
                "dimension with .to_event(1)."
            )
        problems.append(
            Problem(
                name,
                "unplated_dimension",
                f"Site {name!r} has batch shape {batch_shape}: dimension {dim} of size "
                f"{size}{where} is not declared by any plate.",
                fix,
            )
        )
    return problems


def _plate_for_size(size: int, sizes: dict) -> str | None:
    for key, plate in _ENTITY_PLATES:
        if sizes.get(key) == size:
            return plate
    if sizes.get("rows") == size:
        return INTERACTIONS
    return None


def _observed_problems(name: str, site) -> list[Problem]:
    fn = site["fn"]
    value = site["value"]
    expected = tuple(fn.batch_shape + fn.event_shape)
    if tuple(value.shape) != expected:
        try:
            broadcast = tuple(torch.broadcast_shapes(value.shape, expected))
            effect = f"so its log-density has shape {broadcast}"
        except RuntimeError:
            effect = "and the two do not broadcast"
        return [
            Problem(
                name,
                "shape_mismatch",
                f"Observed site {name!r} has a value of shape {tuple(value.shape)} but its "
                f"distribution has shape {expected} (batch {tuple(fn.batch_shape)}, event "
                f"{tuple(fn.event_shape)}), {effect}.",
                f"Pass the data with shape {expected}, for example with .reshape(-1) or "
                ".squeeze(-1) on a column of shape (N, 1).",
            )
        ]

    inside = fn.support.check(value)
    if site["mask"] is not None:
        inside = inside | ~site["mask"].expand(inside.shape)
    if bool(inside.all()):
        return []

    bad = (~inside).reshape(-1).nonzero().squeeze(-1)
    first = int(bad[0])
    first_value = value.reshape(inside.numel(), -1)[first]
    shown = first_value.item() if first_value.numel() == 1 else first_value.tolist()
    return [
        Problem(
            name,
            "outside_support",
            f"Observed site {name!r} has {bad.numel()} value(s) outside the support of its "
            f"{_distribution_name(fn)} distribution ({fn.support}); the first is {shown} at "
            f"unit {first}.",
            "Recode the data to the distribution's support (ratings 1..5 for RatingLevels, "
            "0 or 1 for Bernoulli, positive values for LogNormal), or choose a distribution "
            "whose support covers the data.",
        )
    ]


def _declaration_problems(scm: SCM, trace, observed: list[SiteInfo]) -> list[Problem]:
    problems = []
    found = {site.name for site in observed}
    for name in scm.observed:
        if name not in trace.nodes:
            problems.append(
                Problem(
                    name,
                    "missing_observed",
                    f"SCM(observed=...) lists {name!r}, but the model has no sample site of "
                    f"that name; its sample sites are {sorted(_sample_names(trace))}.",
                    "Correct the name in SCM(observed=...) or in the model's pyro.sample call.",
                )
            )
    for name in sorted(found - set(scm.observed)):
        problems.append(
            Problem(
                name,
                "undeclared_observed",
                f"Site {name!r} is observed (obs= is given) but not listed in "
                "SCM(observed=...), so predictions and interventions never generate it.",
                f"Add {name!r} to SCM(observed=...), and pass its data as the keyword "
                f"argument {name!r}.",
            )
        )
    return problems


def _sample_names(trace) -> list[str]:
    return [
        name
        for name, site in trace.nodes.items()
        if site["type"] == "sample" and not site_is_subsample(site)
    ]
