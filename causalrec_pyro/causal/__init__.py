"""Causal queries on a fitted SCM: its graph, interventions, effects and counterfactuals."""

from causalrec_pyro.causal.counterfactual import counterfactual
from causalrec_pyro.causal.effects import Effect, average_effect, individual_effect, uplift_ranking
from causalrec_pyro.causal.graph import CausalGraph
from causalrec_pyro.causal.interventions import intervene

__all__ = [
    "CausalGraph",
    "Effect",
    "average_effect",
    "counterfactual",
    "individual_effect",
    "intervene",
    "uplift_ranking",
]
