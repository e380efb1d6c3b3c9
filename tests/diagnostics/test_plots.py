"""Diagnostic plots: each writes a PNG and returns its figure."""

import importlib.util

import pytest

from causalrec_pyro.diagnostics import (
    plot_causal_graph,
    plot_chains,
    plot_elbo,
    plot_rating_ppc,
    to_inference_data,
)
from causalrec_pyro.diagnostics.plots import chain_variables

PNG_SIGNATURE = b"\x89PNG"


def assert_png(path):
    assert path.read_bytes()[:4] == PNG_SIGNATURE


def test_elbo_curve(svi_mf, tmp_path):
    figure = plot_elbo(svi_mf, tmp_path / "elbo.png")

    assert_png(tmp_path / "elbo.png")
    assert len(figure.axes[0].lines[0].get_xdata()) == len(svi_mf.loss_history)


def test_elbo_needs_a_history(nuts_mf):
    with pytest.raises(ValueError, match="The loss history is empty"):
        plot_elbo(nuts_mf)


@pytest.mark.parametrize("kind", ["rank", "trace"])
def test_chain_plots(nuts_mf, train, tmp_path, kind):
    idata = to_inference_data(nuts_mf, train)
    plot_chains(idata, tmp_path / f"{kind}.png", kind=kind)

    assert_png(tmp_path / f"{kind}.png")
    assert list(tmp_path.iterdir()) == [tmp_path / f"{kind}.png"]


def test_chain_variables_put_globals_first(nuts_mf, train):
    idata = to_inference_data(nuts_mf, train, num_samples=10)

    assert chain_variables(idata, max_variables=3) == ["rating_offset", "rating_sd", "user_bias"]


def test_chain_plot_rejects_unknown_kind(nuts_mf, train):
    idata = to_inference_data(nuts_mf, train, num_samples=10)
    with pytest.raises(ValueError, match="kind must be 'rank' or 'trace', got 'pair'"):
        plot_chains(idata, kind="pair")


def test_rating_ppc(svi_mf, train, tmp_path):
    idata = to_inference_data(svi_mf, train, num_samples=30)
    figure = plot_rating_ppc(idata, "rating", tmp_path / "ppc.png")

    assert_png(tmp_path / "ppc.png")
    levels = sorted(set(train.rating.tolist()))
    assert [label.get_text() for label in figure.axes[0].get_xticklabels()] == [
        f"{level:g}" for level in levels
    ]


def test_rating_ppc_titles(svi_mf, train, svi_mnar, grid):
    plain = plot_rating_ppc(to_inference_data(svi_mf, train, num_samples=5), "rating")
    split = plot_rating_ppc(to_inference_data(svi_mnar, grid, num_samples=5), "rating")

    assert plain.axes[0].get_title() == "Posterior predictive check of 'rating'"
    expected = "Posterior predictive check of 'rating' at its observed units"
    assert split.axes[0].get_title() == expected


def test_rating_ppc_names_missing_site(svi_mf, train):
    idata = to_inference_data(svi_mf, train, num_samples=10)
    with pytest.raises(KeyError, match="Site 'click' is not in the observed_data group"):
        plot_rating_ppc(idata, "click")


def test_causal_graph_skipped_without_module(svi_mf, train, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert plot_causal_graph(svi_mf, train, tmp_path / "graph.png") is None

    assert "the causal graph is skipped" in capsys.readouterr().out
    assert not (tmp_path / "graph.png").exists()


@pytest.mark.skipif(
    importlib.util.find_spec("causalrec_pyro.causal.graph") is None,
    reason="causalrec_pyro.causal.graph is not installed",
)
def test_causal_graph_drawn(svi_mf, train, tmp_path):
    path = plot_causal_graph(svi_mf, train, tmp_path / "graph.png")

    assert path == tmp_path / "graph.png"
    assert path.stat().st_size > 0
