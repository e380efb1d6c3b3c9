"""The browsing example runs with tiny arguments and reports the three effects."""

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "causal_effect_browsing.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("example_causal_effect_browsing", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_browsing_example_runs(capsys):
    example = _load_example()
    argv = [
        "--num-steps",
        "20",
        "--n-users",
        "20",
        "--rows-per-user",
        "5",
        "--num-samples",
        "10",
        "--seed",
        "1",
        "--device",
        "cpu",
    ]
    result = example.main(example.parse_args(argv))
    output = capsys.readouterr().out
    assert "observational contrast E[Y|X=1,Z] - E[Y|X=0,Z]" in output
    assert "causal effect E[Y|do(X=1),Z] - E[Y|do(X=0),Z]" in output
    assert "simulator's true effect" in output
    assert result["effect"].draws.shape == (10,)
    assert list(result["by_attribute"].groups) == [0, 1]
    assert 0.5 <= result["truth"] <= 0.9


def test_browsing_graph_matches_declared():
    example = _load_example()
    rows = example.simulate_rows(n_users=4, rows_per_user=3, seed=0)
    graph = example.browsing_scm().graph(rows)
    assert graph.matches_declared, (graph.missing_edges, graph.extra_edges)
    assert graph.parents("outcome") >= {"browsing", "attribute", "interest"}
    # The confounder is latent, so no observed set blocks browsing <- interest -> outcome.
    assert graph.observed == {"browsing", "attribute", "outcome"}
