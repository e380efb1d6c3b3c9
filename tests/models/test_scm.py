import pyro
import pyro.distributions as dist
import pytest
import torch

import causalrec_pyro as cr
from causalrec_pyro.models import SCM


def _model(user, item, rating=None, *, n_users, n_items, scale=1.0):
    bias = pyro.sample("bias", dist.Normal(0.0, scale))
    with pyro.plate("interactions", user.shape[0]):
        return pyro.sample("rating", dist.Normal(bias, 1.0), obs=rating)


def _kwargs():
    return {
        "user": torch.tensor([0, 1]),
        "item": torch.tensor([1, 0]),
        "rating": torch.tensor([3.0, 4.0]),
        "n_users": 2,
        "n_items": 2,
        "timestamp": torch.tensor([1.0, 2.0]),
    }


def test_model_kwargs_drops_unknown_arguments():
    kwargs = SCM(_model, observed=("rating",)).model_kwargs(_kwargs())
    assert "timestamp" not in kwargs
    assert set(kwargs) == {"user", "item", "rating", "n_users", "n_items"}


def test_model_kwargs_unobserved_sets_none():
    kwargs = SCM(_model, observed=("rating",)).model_kwargs(_kwargs(), observe=False)
    assert kwargs["rating"] is None


def test_model_kwargs_keeps_all_for_var_keyword():
    def model(**kwargs):
        return None

    assert "timestamp" in SCM(model).model_kwargs(_kwargs())


def test_model_kwargs_from_split():
    world = cr.simulate(n_users=10, n_items=8, seed=0)
    kwargs = cr.matrix_factorization().model_kwargs(world.data)
    assert kwargs["user"] is world.data["train"].user
    assert kwargs["n_items"] == 8


def test_model_kwargs_rejects_other_types():
    with pytest.raises(TypeError, match="RatingData, a Split or a dict"):
        SCM(_model).model_kwargs([1, 2])


def test_config_is_passed_to_model():
    scm = SCM(_model, observed=("rating",), config={"scale": 0.0001})
    trace = pyro.poutine.trace(scm).get_trace(**scm.model_kwargs(_kwargs()))
    assert trace.nodes["bias"]["fn"].scale == pytest.approx(0.0001)
    assert scm.configure(scale=2.0).config == {"scale": 2.0}


def test_spec_round_trips_builtin_model():
    scm = cr.exposure_rating(dim=3)
    rebuilt = SCM.from_spec(scm.spec())
    assert rebuilt.model is scm.model
    assert rebuilt.config == scm.config
    assert rebuilt.declared_edges == scm.declared_edges


def test_spec_of_local_model_is_not_importable():
    def local(user, item):
        return None

    with pytest.raises(ValueError, match="no importable path"):
        SCM.from_spec(SCM(local).spec())


def test_non_callable_model_raises():
    with pytest.raises(TypeError, match="callable Pyro model"):
        SCM("rating")
