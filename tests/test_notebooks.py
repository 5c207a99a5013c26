"""The notebooks run end to end on tiny settings and are stored without outputs.

Each notebook reads ``ASYNCSIM_NOTEBOOK_QUICK=1`` in its parameter cell and then runs in
seconds; here it is executed with nbclient in a fresh kernel (started from this interpreter, so
it imports the same asyncsim) and its outputs are checked: no error, the expected figures.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
#: notebook → (minimum number of PNG figures, texts its outputs must contain)
EXPECTED = {
    "01_quickstart.ipynb": (4, ["rennala_nigt", "synchronized_nigt", "stop_reason"]),
    "02_theory_vs_measurement.ipynb": (4, ["ε = 0.5", "n =    64: rennala_nigt"]),
}


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / name, as_version=4)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_stored_without_outputs(name: str) -> None:
    notebook = _read(name)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [], f"{name}: a cell has stored outputs"
        assert cell.execution_count is None, f"{name}: a cell has an execution count"
    tags = [tag for cell in code for tag in cell.metadata.get("tags", [])]
    assert "parameters" in tags
    assert any("ASYNCSIM_NOTEBOOK_QUICK" in cell.source for cell in code)


def _texts(outputs: list) -> str:
    parts = []
    for output in outputs:
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        for kind in ("text/plain", "text/markdown"):
            parts.append(str(output.get("data", {}).get(kind, "")))
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_quickly(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCSIM_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = _read(name)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": NOTEBOOKS}}
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors
    figures, texts = EXPECTED[name]
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) >= figures
    printed = _texts(outputs)
    for text in texts:
        assert text in printed, f"{name}: {text!r} not in the outputs"


def test_make_notebooks_executes_both() -> None:
    """`make notebooks` runs both notebooks through the kernel the dev extra installs."""
    recipe = subprocess.run(
        ["make", "-n", "notebooks", "NOTEBOOK_QUICK=1"],
        cwd=NOTEBOOKS.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    command = next(line for line in recipe.splitlines() if "jupyter execute" in line)
    assert command.startswith("ASYNCSIM_NOTEBOOK_QUICK=1 ")
    assert all(f"notebooks/{name}" in command for name in EXPECTED)
