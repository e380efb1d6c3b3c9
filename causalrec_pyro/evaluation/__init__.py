"""Rating and ranking metrics, and unbiased (IPS, SNIPS, DR) MSE estimators.

All functions accept torch tensors, numpy arrays or lists and return Python floats,
except :func:`evaluate`, which returns a dict of them.
"""

from .ranking import auc, evaluate, ndcg_at_k, recall_at_k
from .ratings import mae, mse
from .unbiased import doubly_robust_mse, ips_mse, snips_mse

__all__ = [
    "auc",
    "doubly_robust_mse",
    "evaluate",
    "ips_mse",
    "mae",
    "mse",
    "ndcg_at_k",
    "recall_at_k",
    "snips_mse",
]
