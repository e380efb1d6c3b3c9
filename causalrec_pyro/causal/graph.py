"""The causal graph of an SCM, extracted from the Pyro program itself."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import networkx as nx
import pyro
import pyro.poutine as poutine
import torch
from pyro.infer.inspect import TrackProvenance, get_dependencies
from pyro.ops.provenance import get_provenance
from pyro.poutine.util import site_is_subsample

__all__ = ["CausalGraph"]

#: Suffixes of the two sites Pyro creates for ``pyro.sample(name, ..., obs_mask=...)``.
_SPLIT_SUFFIXES = ("_observed", "_unobserved")


class CausalGraph:
    """A directed acyclic graph over the sample sites of a model.

    Build it from a program with :meth:`from_scm`, or from an edge list for a textbook graph::

        CausalGraph([("confounder", "treatment"), ("confounder", "outcome"),
                     ("treatment", "outcome")], observed=["treatment", "outcome"])

    Parameters
    ----------
    edges : iterable of (str, str)
        Directed edges ``(parent, child)``.
    nodes : iterable of str, optional
        Extra nodes without edges.
    observed : iterable of str, optional
        The nodes with data. Only observed nodes may be adjusted for in
        :meth:`backdoor_adjustment_set`. ``None`` marks every node as observed.
    declared_edges : iterable of (str, str), optional
        The edges the model's author declared; :attr:`missing_edges` and :attr:`extra_edges`
        compare them with ``edges``.
    name : str, optional
        A display name, used as the DOT graph name.

    Attributes
    ----------
    nx : networkx.DiGraph
        The graph. Node attributes: ``observed`` (bool), ``deterministic`` (bool) and
        ``plates`` (tuple of plate names; empty for a graph built from edges).
    missing_edges : list of (str, str)
        Declared edges that the program does not have (empty when nothing was declared).
    extra_edges : list of (str, str)
        Edges of the program that were not declared (empty when nothing was declared).
    matches_declared : bool or None
        True when the program's edges equal the declared ones; None when none were declared.

    Raises
    ------
    ValueError
        When the edges contain a cycle.
    """

    def __init__(
        self,
        edges: Iterable[tuple[str, str]] = (),
        *,
        nodes: Iterable[str] = (),
        observed: Iterable[str] | None = None,
        declared_edges: Iterable[tuple[str, str]] | None = None,
        name: str = "causal_graph",
    ):
        graph = nx.DiGraph()
        graph.add_nodes_from(nodes)
        graph.add_edges_from((str(a), str(b)) for a, b in edges)
        if not nx.is_directed_acyclic_graph(graph):
            cycle = nx.find_cycle(graph)
            raise ValueError(
                f"The edges contain the cycle {cycle}; a causal graph must be acyclic."
            )
        observed_nodes = set(graph.nodes) if observed is None else set(observed)
        for node in graph.nodes:
            graph.nodes[node].setdefault("plates", ())
            graph.nodes[node].setdefault("deterministic", False)
            graph.nodes[node]["observed"] = node in observed_nodes
        self.nx = graph
        self.name = name
        self.declared_edges = None if declared_edges is None else sorted(map(tuple, declared_edges))
        if self.declared_edges is None:
            self.missing_edges, self.extra_edges, self.matches_declared = [], [], None
        else:
            found, declared = set(graph.edges), set(self.declared_edges)
            self.missing_edges = sorted(declared - found)
            self.extra_edges = sorted(found - declared)
            self.matches_declared = not self.missing_edges and not self.extra_edges

    def __repr__(self) -> str:
        return (
            f"CausalGraph({self.name!r}, {self.nx.number_of_nodes()} nodes, "
            f"{self.nx.number_of_edges()} edges)"
        )

    # ---------------------------------------------------------------- building
    @classmethod
    def from_scm(cls, scm, data) -> CausalGraph:
        """Extract the graph of ``scm`` by running it once on ``data``.

        The edges are Pyro's prior dependencies (:func:`pyro.infer.inspect.get_dependencies`):
        site ``a`` is a parent of site ``b`` when the log-density of ``b`` is computed from the
        value of ``a``. The model runs with its observed sites generated
        (``scm.model_kwargs(data, observe=False)``), because Pyro reports dependencies on
        latent sites only. Nodes are the sample sites, without plate and subsample sites. The
        two halves Pyro makes of a site sampled with ``obs_mask`` (``rating_observed``,
        ``rating_unobserved``) are merged back into ``rating``.

        ``pyro.deterministic`` sites and sites sampled from a ``Delta`` distribution, which
        ``get_dependencies`` leaves out, are nodes too, with an edge from every sample site their
        value is computed from. A site that uses a deterministic value gets edges from those
        sample sites instead of from the deterministic site, as ``get_dependencies`` reports.
        """
        kwargs = scm.model_kwargs(data, observe=False)
        dependencies = get_dependencies(scm, model_kwargs=kwargs)["prior_dependencies"]
        trace = _provenance_trace(scm, kwargs)

        def merged(site: str) -> str:
            for suffix in _SPLIT_SUFFIXES:
                base = site[: -len(suffix)]
                if site.endswith(suffix) and base in trace.nodes:
                    return base
            return site

        nodes = {merged(site) for site in dependencies}
        edges = {
            (merged(parent), merged(child))
            for child, parents in dependencies.items()
            for parent in parents
            if merged(parent) != merged(child)
        }
        split_bases = {merged(site) for site in dependencies} - set(dependencies)
        deterministic = set()
        for site_name, site in trace.nodes.items():
            if site_name in split_bases:
                continue
            if site["type"] == "sample" and _is_deterministic(site):
                deterministic.add(site_name)
                nodes.add(site_name)
                parents = get_provenance(site["value"]) & set(trace.nodes)
                edges |= {(merged(parent), site_name) for parent in parents}
        graph = cls(
            sorted(edges),
            nodes=sorted(nodes),
            observed=[site for site in scm.observed if site in nodes],
            declared_edges=scm.declared_edges,
            name=scm.name,
        )
        for node in graph.nx.nodes:
            site = trace.nodes.get(node)
            if site is not None:
                graph.nx.nodes[node]["plates"] = tuple(
                    frame.name for frame in site["cond_indep_stack"] if frame.vectorized
                )
            graph.nx.nodes[node]["deterministic"] = node in deterministic
        return graph

    def with_declared_edges(self) -> CausalGraph:
        """Return a copy that also has each declared edge between two sites of the program.

        Pyro's provenance tracking misses a dependency when a distribution writes its
        parameters into a new tensor in place, as ``OrderedLogistic`` does in Pyro 1.9. The
        causal queries use this graph, so an edge the model declares counts even when the
        extraction misses it.
        """
        added = [(a, b) for a, b in self.missing_edges if a in self.nx and b in self.nx]
        graph = CausalGraph(
            list(self.nx.edges) + added,
            nodes=self.nx.nodes,
            observed=self.observed,
            declared_edges=self.declared_edges,
            name=self.name,
        )
        for node, attributes in self.nx.nodes.items():
            graph.nx.nodes[node].update(attributes)
        return graph

    # ----------------------------------------------------------------- queries
    @property
    def observed(self) -> frozenset:
        """The observed nodes."""
        return frozenset(n for n, attributes in self.nx.nodes.items() if attributes["observed"])

    def parents(self, node: str) -> set[str]:
        """Return the direct causes of ``node``."""
        return set(self.nx.predecessors(self._check(node)))

    def children(self, node: str) -> set[str]:
        """Return the direct effects of ``node``."""
        return set(self.nx.successors(self._check(node)))

    def ancestors(self, node: str) -> set[str]:
        """Return every node with a directed path to ``node``."""
        return nx.ancestors(self.nx, self._check(node))

    def descendants(self, node: str) -> set[str]:
        """Return every node reached by a directed path from ``node``."""
        return nx.descendants(self.nx, self._check(node))

    def topological_order(self, nodes: Iterable[str] | None = None) -> list[str]:
        """Return ``nodes`` (all by default) with every parent before its children."""
        order = list(nx.lexicographical_topological_sort(self.nx))
        if nodes is None:
            return order
        wanted = set(nodes)
        return [node for node in order if node in wanted]

    def d_separated(self, xs, ys, given=()) -> bool:
        """Return True when every path between ``xs`` and ``ys`` is blocked by ``given``.

        Each argument is a node name or an iterable of names; the three sets must be disjoint.
        Uses networkx's d-separation test (``is_d_separator`` in networkx 3.3 and later,
        ``d_separated`` before).
        """
        xs, ys, given = self._nodes(xs), self._nodes(ys), self._nodes(given)
        overlap = (xs & ys) | (xs & given) | (ys & given)
        if overlap:
            raise ValueError(
                f"d_separated needs disjoint sets, but {sorted(overlap)} appear in more than one "
                f"of xs={sorted(xs)}, ys={sorted(ys)}, given={sorted(given)}."
            )
        test = getattr(nx, "is_d_separator", None) or nx.d_separated
        return bool(test(self.nx, xs, ys, given))

    def is_backdoor_set(self, treatment, outcome, adjustment) -> bool:
        """Return True when ``adjustment`` satisfies the backdoor criterion.

        The criterion: no node of ``adjustment`` is a descendant of ``treatment``, and
        ``adjustment`` blocks every path from ``treatment`` to ``outcome`` that starts with an
        edge into ``treatment``.
        """
        treatments, outcomes = self._nodes(treatment), self._nodes(outcome)
        adjustment = self._nodes(adjustment)
        if adjustment & self._descendants_of(treatments):
            return False
        test = getattr(nx, "is_d_separator", None) or nx.d_separated
        return bool(test(self._backdoor_graph(treatments), treatments, outcomes, adjustment))

    def backdoor_adjustment_set(self, treatment, outcome, adjustable=None) -> set[str]:
        r"""Return a minimal set of nodes that satisfies the backdoor criterion.

        With such a set :math:`Z`, :math:`P(y \mid do(t)) = \sum_z P(y \mid t, z) P(z)`.
        Only observed nodes may be adjusted for unless ``adjustable`` names others; nodes that
        descend from the treatment never qualify. The set is minimal: no node can be removed.
        An empty set means that the treatment and the outcome share no confounding path.

        Raises
        ------
        ValueError
            When no subset of the adjustable nodes satisfies the criterion, for example when the
            only confounder is latent.
        """
        treatments, outcomes = self._nodes(treatment), self._nodes(outcome)
        allowed = self.observed if adjustable is None else self._nodes(adjustable)
        allowed = set(allowed) - treatments - outcomes - self._descendants_of(treatments)
        backdoor = self._backdoor_graph(treatments)
        found = _minimal_separator(backdoor, treatments, outcomes, allowed)
        if found is None:
            raise ValueError(
                f"No backdoor adjustment set exists for the effect of {sorted(treatments)} on "
                f"{sorted(outcomes)} among the adjustable nodes {sorted(allowed)}: a confounding "
                "path runs through nodes that are unobserved or descend from the treatment. "
                "Identify the effect by the model itself (average_effect), or pass adjustable= "
                "to allow more nodes."
            )
        return found

    # --------------------------------------------------------------- rendering
    def to_dot(self) -> str:
        """Return the graph in the DOT language of Graphviz.

        Observed nodes are filled boxes and latent nodes ellipses. When edges were declared,
        edges the program has but the declaration lacks are red, and declared edges the program
        lacks are dashed grey.
        """
        lines = [f'digraph "{self.name}" {{', "  rankdir=TB;"]
        for node, attributes in sorted(self.nx.nodes.items()):
            style = 'shape=box, style=filled, fillcolor="#dddddd"'
            if not attributes["observed"]:
                style = "shape=ellipse"
            if attributes["deterministic"]:
                style += ", peripheries=2"
            lines.append(f'  "{node}" [{style}];')
        extra = set(self.extra_edges)
        for parent, child in sorted(self.nx.edges):
            colour = " [color=red]" if (parent, child) in extra else ""
            lines.append(f'  "{parent}" -> "{child}"{colour};')
        for parent, child in self.missing_edges:
            lines.append(f'  "{parent}" -> "{child}" [style=dashed, color=grey];')
        lines.append("}")
        return "\n".join(lines) + "\n"

    def draw(self, path: str | os.PathLike, *, figsize=None, dpi: int = 100) -> Path:
        """Draw the graph to a PNG file and return the path.

        Rows follow the topological generations, causes above their effects (see
        :func:`~causalrec_pyro.causal.drawing.layered_positions`). Observed nodes are grey,
        latent nodes white. ``figsize`` in inches defaults to a size that grows with the
        widest row and the number of rows.
        """
        from causalrec_pyro.causal.drawing import draw_graph

        return draw_graph(self.nx, self.name, path, figsize=figsize, dpi=dpi)

    # ----------------------------------------------------------------- helpers
    def _check(self, node: str) -> str:
        if node not in self.nx:
            raise ValueError(
                f"Node {node!r} is not in the graph {self.name!r}; its nodes are "
                f"{sorted(self.nx.nodes)}."
            )
        return node

    def _nodes(self, names) -> set[str]:
        if isinstance(names, str):
            names = (names,)
        return {self._check(name) for name in names}

    def _descendants_of(self, nodes: set[str]) -> set[str]:
        found = set()
        for node in nodes:
            found |= nx.descendants(self.nx, node)
        return found

    def _backdoor_graph(self, treatments: set[str]) -> nx.DiGraph:
        backdoor = self.nx.copy()
        backdoor.remove_edges_from([edge for t in treatments for edge in self.nx.out_edges(t)])
        return backdoor


def _minimal_separator(graph: nx.DiGraph, xs: set, ys: set, allowed: set) -> set | None:
    """Return a minimal d-separator of ``xs`` and ``ys`` inside ``allowed``, or None."""
    finder = getattr(nx, "find_minimal_d_separator", None)
    if finder is not None:  # networkx 3.3 and later
        found = finder(graph, xs, ys, restricted=allowed)
        return None if found is None else set(found)
    # Older networkx: if any allowed set separates xs and ys, the allowed ancestors of xs and ys
    # do. Nodes are then dropped one at a time while the rest still separates.
    # NOTE: this branch is not run by the tests, which use networkx 3.3 or later.
    test = nx.d_separated
    ancestors = set()
    for node in xs | ys:
        ancestors |= nx.ancestors(graph, node)
    candidate = ancestors & allowed
    if xs & ys or any(graph.has_edge(x, y) or graph.has_edge(y, x) for x in xs for y in ys):
        return None
    if not test(graph, xs, ys, candidate):
        return None
    for node in sorted(candidate):
        if test(graph, xs, ys, candidate - {node}):
            candidate = candidate - {node}
    return candidate


def _is_deterministic(site) -> bool:
    """Return True for a ``pyro.deterministic`` site or a site sampled from a Delta."""
    fn = site["fn"]
    while hasattr(fn, "base_dist"):
        fn = fn.base_dist
    return bool(site["infer"].get("_deterministic")) or isinstance(fn, pyro.distributions.Delta)


def _provenance_trace(model, kwargs) -> poutine.Trace:
    """Trace ``model`` with Pyro's provenance tracking, as ``get_dependencies`` does.

    ``pyro.infer.inspect.TrackProvenance`` tags each sample site's value with the site's name,
    so the value of a ``pyro.deterministic`` site carries the names of the sample sites it was
    computed from.
    """
    with torch.random.fork_rng(), torch.no_grad(), pyro.validation_enabled(False):
        with poutine.block(), TrackProvenance():
            trace = poutine.trace(model).get_trace(**kwargs)
    for name in [n for n, site in trace.nodes.items() if site_is_subsample(site)]:
        trace.remove_node(name)
    return trace
