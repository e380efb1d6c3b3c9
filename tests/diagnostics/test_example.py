"""Smoke test of examples/custom_model_workflow.py with tiny arguments."""

import importlib.util
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "custom_model_workflow.py"


def load_example():
    spec = importlib.util.spec_from_file_location("custom_model_workflow", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto:UserWarning")
def test_workflow_runs_with_tiny_arguments(capsys):
    example = load_example()
    args = example.parse_args(
        [
            "--num-steps", "30",
            "--num-samples", "8",
            "--warmup-steps", "8",
            "--n-users", "8",
            "--n-items", "6",
            "--per-user", "3",
            "--seed", "1",
            "--device", "cpu",
        ]
    )  # fmt: skip
    result = example.main(args)

    assert result["check"].ok
    assert list(result["comparison"]["rank"].sort_values()) == [0, 1, 2]
    assert set(result["effects"]) == {"badge (NUTS)", "badge (SVI)"}
    assert all(math.isfinite(value) for value in result["effects"].values())
    output = capsys.readouterr().out
    assert "Problems: none" in output
    assert "E[rating | do(badge=1)] - E[rating | do(badge=0)]" in output
    assert "True effect" in output
