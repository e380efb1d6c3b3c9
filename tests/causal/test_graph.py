"""CausalGraph: extraction from programs, d-separation and backdoor sets on textbook graphs."""

import math

import networkx as nx
import pyro
import pyro.distributions as dist
import pytest
import torch

from causalrec_pyro import SCM, exposure_rating, matrix_factorization
from causalrec_pyro.causal import CausalGraph
from causalrec_pyro.causal.drawing import layered_layout
from causalrec_pyro.data.simulate import simulator_scm

CONFOUNDER = [("C", "T"), ("C", "Y"), ("T", "Y")]
FRONT_DOOR = [("U", "T"), ("U", "Y"), ("T", "M"), ("M", "Y")]
M_BIAS = [("U1", "T"), ("U1", "M"), ("U2", "M"), ("U2", "Y"), ("T", "Y")]


# ------------------------------------------------------------ built-in models
def test_mf_graph_matches_declared(world):
    graph = matrix_factorization().graph(world.data["train"])
    assert graph.matches_declared, (graph.missing_edges, graph.extra_edges)
    assert graph.parents("rating") == {
        "rating_offset",
        "rating_sd",
        "user_bias",
        "user_pref",
        "item_quality",
        "item_factors",
    }
    assert graph.observed == {"rating"}


def test_exposure_rating_graph_matches_declared(world):
    propensity = torch.full((world.data.n_users, world.data.n_items), 0.3)
    data = world.data["train"].with_unobserved(propensity_matrix=propensity)
    graph = exposure_rating(use_propensity=True).graph(data)
    assert graph.matches_declared, (graph.missing_edges, graph.extra_edges)
    assert {"rating", "propensity_coef"} <= graph.parents("exposure")
    assert graph.observed == {"rating", "exposure"}


def test_exposure_rating_without_propensity(world):
    graph = exposure_rating(use_propensity=False).graph(world.data["train"])
    assert graph.matches_declared, (graph.missing_edges, graph.extra_edges)


def test_declared_edge_missing_is_reported(world):
    # Data without a propensity column never samples propensity_coef.
    graph = exposure_rating(use_propensity=True).graph(world.data["train"])
    assert graph.matches_declared is False
    assert graph.missing_edges == [("propensity_coef", "exposure")]
    assert graph.extra_edges == []


def test_simulator_graph_matches_declared(world_pairs):
    graph = simulator_scm().graph(world_pairs)
    assert graph.matches_declared, (graph.missing_edges, graph.extra_edges)
    assert "exposure" in graph.parents("click")
    assert graph.descendants("exposure") == {"click"}
    assert graph.nx.nodes["click"]["plates"] == ("interactions",)
    assert graph.nx.nodes["user_pref"]["plates"] == ("users",)


def test_graph_without_declaration():
    def model(n):
        a = pyro.sample("a", dist.Normal(0.0, 1.0))
        with pyro.plate("interactions", n):
            pyro.sample("b", dist.Normal(a, 1.0))

    graph = CausalGraph.from_scm(SCM(model, plates={"interactions": ()}), {"n": 3})
    assert graph.matches_declared is None
    assert set(graph.nx.edges) == {("a", "b")}
    assert graph.missing_edges == graph.extra_edges == []


# ------------------------------------------------------------- program features
def test_masked_site_halves_are_merged():
    def model(y=None, mask=None):
        a = pyro.sample("a", dist.Normal(0.0, 1.0))
        with pyro.plate("interactions", 4):
            y = pyro.sample("y", dist.Normal(a, 1.0), obs=y, obs_mask=mask)
            pyro.sample("z", dist.Normal(y, 1.0))

    mask = torch.tensor([True, False, True, False])
    data = {"y": torch.zeros(4), "mask": mask}
    # With observe=True the model would split y; from_scm generates it, and even when a model
    # always splits a site the halves are merged, as this model does when mask is given.
    graph = CausalGraph.from_scm(SCM(model, observed=("z",), plates={"interactions": ()}), data)
    assert "y_observed" not in graph.nx
    assert "y_unobserved" not in graph.nx
    assert graph.parents("y") == {"a"}
    assert graph.parents("z") == {"y"}


def test_deterministic_site_is_node():
    def model(n):
        with pyro.plate("interactions", n):
            x = pyro.sample("x", dist.Normal(0.0, 1.0))
            noise = pyro.sample("y_noise", dist.Normal(0.0, 1.0))
            pyro.deterministic("y", 2.0 * x + noise)

    graph = CausalGraph.from_scm(SCM(model, plates={"interactions": ()}), {"n": 3})
    assert graph.parents("y") == {"x", "y_noise"}
    assert graph.nx.nodes["y"]["deterministic"]


# ---------------------------------------------------------------- textbook graphs
def test_confounder_d_separation():
    graph = CausalGraph([("C", "T"), ("C", "Y")])
    assert not graph.d_separated("T", "Y")
    assert graph.d_separated("T", "Y", given="C")


def test_confounder_backdoor_set():
    graph = CausalGraph(CONFOUNDER)
    assert graph.backdoor_adjustment_set("T", "Y") == {"C"}
    assert graph.is_backdoor_set("T", "Y", {"C"})
    assert not graph.is_backdoor_set("T", "Y", set())


def test_latent_confounder_has_no_backdoor_set():
    graph = CausalGraph(CONFOUNDER, observed=["T", "Y"])
    with pytest.raises(ValueError, match=r"No backdoor adjustment set exists .*\['T'\].*\['Y'\]"):
        graph.backdoor_adjustment_set("T", "Y")


def test_front_door_graph():
    graph = CausalGraph(FRONT_DOOR, observed=["T", "M", "Y"])
    assert not graph.d_separated("T", "Y", given="M")  # T <- U -> Y stays open
    assert graph.d_separated("M", "U", given="T")
    with pytest.raises(ValueError, match="No backdoor adjustment set exists"):
        graph.backdoor_adjustment_set("T", "Y")
    # The mediator never qualifies: it descends from the treatment.
    assert not graph.is_backdoor_set("T", "Y", {"M"})
    assert graph.backdoor_adjustment_set("M", "Y") == {"T"}
    assert graph.backdoor_adjustment_set("T", "Y", adjustable={"U", "M"}) == {"U"}


def test_m_bias_graph():
    graph = CausalGraph(M_BIAS)
    assert graph.d_separated("U1", "U2")
    assert not graph.d_separated("U1", "U2", given="M")
    assert graph.backdoor_adjustment_set("T", "Y") == set()
    assert not graph.is_backdoor_set("T", "Y", {"M"})
    assert graph.is_backdoor_set("T", "Y", {"M", "U1"})
    assert graph.is_backdoor_set("T", "Y", {"M", "U2"})


def test_reverse_edge_has_no_backdoor_set():
    graph = CausalGraph([("Y", "T")])
    with pytest.raises(ValueError, match="No backdoor adjustment set exists"):
        graph.backdoor_adjustment_set("T", "Y")


def test_ancestors_and_descendants():
    graph = CausalGraph(FRONT_DOOR)
    assert graph.ancestors("Y") == {"U", "T", "M"}
    assert graph.descendants("T") == {"M", "Y"}
    assert graph.parents("Y") == {"U", "M"}
    assert graph.children("U") == {"T", "Y"}
    assert graph.topological_order() == ["U", "T", "M", "Y"]


# ------------------------------------------------------------------- rendering
def test_to_dot_marks_differences():
    graph = CausalGraph([("A", "B"), ("B", "C")], observed=["C"], declared_edges=[("A", "B")])
    dot = graph.to_dot()
    assert dot.startswith('digraph "causal_graph" {')
    assert '"B" -> "C" [color=red];' in dot
    assert '"A" -> "B";' in dot
    assert '"C" [shape=box' in dot
    assert graph.extra_edges == [("B", "C")]


def test_to_dot_dashes_missing_edge():
    graph = CausalGraph([("A", "B")], nodes=["C"], declared_edges=[("A", "B"), ("C", "B")])
    assert '"C" -> "B" [style=dashed, color=grey];' in graph.to_dot()


def test_draw_writes_png(tmp_path, world_pairs):
    path = simulator_scm().graph(world_pairs).draw(tmp_path / "plots" / "graph.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _distance_to_segment(point, start, end) -> float:
    (px, py), (ax, ay), (bx, by) = point, start, end
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def test_layout_keeps_edges_off_other_nodes(world_pairs):
    """An edge to a late effect must not pass through an earlier effect's node."""
    mnar = [(f"r{i}", "rating") for i in range(6)] + [(f"e{i}", "exposure") for i in range(7)]
    graphs = [nx.DiGraph(mnar + [("rating", "exposure")]), simulator_scm().graph(world_pairs).nx]
    for graph in graphs:
        positions, routes = layered_layout(graph)
        rows = {}
        for x, y in positions.values():
            rows.setdefault(y, []).append(x)
        for xs in rows.values():
            gaps = [b - a for a, b in zip(sorted(xs), sorted(xs)[1:])]
            assert min(gaps, default=1.0) >= 1.0 - 1e-9
        assert set(routes) == set(graph.edges)
        for (parent, child), route in routes.items():
            assert route[0] == positions[parent]
            assert route[-1] == positions[child]
            for start, end in zip(route, route[1:]):
                for node in set(graph.nodes) - {parent, child}:
                    distance = _distance_to_segment(positions[node], start, end)
                    # At the default figure size a node's radius is about 0.13 x units.
                    assert distance > 0.15, (parent, child, node)


# ---------------------------------------------------------------------- errors
def test_cycle_raises():
    with pytest.raises(ValueError, match="contain the cycle"):
        CausalGraph([("A", "B"), ("B", "A")])


def test_unknown_node_raises():
    graph = CausalGraph(CONFOUNDER)
    with pytest.raises(ValueError, match=r"Node 'Z' is not in the graph .*\['C', 'T', 'Y'\]"):
        graph.parents("Z")


def test_overlapping_sets_raise():
    graph = CausalGraph(CONFOUNDER)
    with pytest.raises(ValueError, match=r"disjoint sets, but \['C'\]"):
        graph.d_separated("C", "Y", given="C")
