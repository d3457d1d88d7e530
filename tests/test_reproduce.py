"""The papermill runner: registry, parameter checking, failures, and notebook 01 end to end."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from bimix.compendium import reproduce
from bimix.paths import NOTEBOOKS_DIR, REPO_ROOT


def _bimix(*args, env=None, check=False):
    return subprocess.run([sys.executable, "-m", "bimix", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=900, check=check)


def test_registered_notebooks_exist_are_clean_and_declare_injected_parameters():
    assert reproduce.NOTEBOOKS, "no notebook registered"
    for spec in reproduce.NOTEBOOKS:
        nb = nbformat.read(spec.path, as_version=4)
        assert nb.metadata["kernelspec"]["name"] == "python3", spec.name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{spec.name} has outputs"
        declared = reproduce.declared_parameters(spec.path)
        missing = set(reproduce.ALWAYS_INJECTED) - set(declared)
        assert not missing, f"{spec.name} does not declare {missing}"
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


def test_every_notebook_file_is_registered():
    registered = {spec.name for spec in reproduce.NOTEBOOKS}
    on_disk = {p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb")}
    assert on_disk == registered


def test_unknown_parameter_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(reproduce.ParameterError, match="bogus"):
        reproduce.reproduce("smoke", ["01_build_corpus"], output_dir=tmp_path, extra={"bogus": 1})
    assert not (tmp_path / "notebooks").exists()
    result = _bimix("reproduce", "--profile", "smoke", "--only", "01_build_corpus",
                    "--output-dir", str(tmp_path), "-p", "bogus=1")
    assert result.returncode == 2 and "bogus" in result.stderr  # bad input


@pytest.mark.parametrize("parameter", ["profile=cpu", "results_dir=data/results/cpu", "runs_dir=data/runs/cpu",
                                       "config=other.toml"])
def test_a_parameter_cannot_redirect_where_the_notebooks_read_or_write(tmp_path, parameter):
    # `--profile smoke -p profile=cpu` wrote the cpu table's fit into the smoke results, exit 0
    result = _bimix("reproduce", "--profile", "smoke", "--only", "05_fit_law", "--output-dir", str(tmp_path),
                    "-p", parameter)
    name = parameter.split("=")[0]
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: -p {name}=... would redirect where the notebooks read or write; use --")
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing ran, nothing was written


def test_reproduce_never_deletes_a_tracked_results_file(tmp_path):
    # each notebook's results file is deleted before the notebook runs: results_dir=data/results/cpu
    # deleted the committed data/results/cpu/05_fit_law.json
    committed = REPO_ROOT / "data" / "results" / "cpu" / "05_fit_law.json"
    before = committed.read_bytes()
    with pytest.raises(reproduce.ParameterError, match="05_fit_law.json, a file the repository tracks"):
        reproduce.reproduce("smoke", ["05_fit_law"], output_dir=tmp_path, progress=False,
                            extra={"results_dir": "data/results/cpu"})
    assert committed.read_bytes() == before and list(tmp_path.iterdir()) == []



def _notebook(path, *cells):
    """A notebook as the runner expects one (kernelspec, a parameters cell), then ``cells``, at ``path``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('profile: str = "cpu"\nfigures_dir: str = ""\nresults_dir: str = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *cells]
    nbformat.write(nb, path)
    return path


def test_unknown_notebook_and_profile_are_refused(tmp_path):
    with pytest.raises(reproduce.ReproduceError, match="no_such_notebook"):
        reproduce.plan("smoke", ["no_such_notebook"])
    with pytest.raises(reproduce.ReproduceError, match="unknown profile"):
        reproduce.plan("laptop")


def test_failing_cell_names_notebook_and_cell(tmp_path, monkeypatch):
    path = _notebook(tmp_path / "99_fails.ipynb", nbformat.v4.new_code_cell("x = 1"),
                     nbformat.v4.new_code_cell("raise ValueError('deliberate failure 42')"))
    spec = reproduce.NotebookSpec("99_fails", source=path)
    monkeypatch.setattr(reproduce, "NOTEBOOKS", (spec,))
    with pytest.raises(reproduce.NotebookFailed, match=r"99_fails.*ValueError.*deliberate failure 42"):
        reproduce.reproduce("smoke", output_dir=tmp_path / "out", progress=False)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["notebooks"][0]["status"] == "failed"


def test_failed_notebook_leaves_no_stale_results_and_a_quiet_log(tmp_path, monkeypatch, capfd):
    path = _notebook(tmp_path / "98_claims.ipynb", nbformat.v4.new_code_cell("raise ValueError('deliberate failure')"))
    monkeypatch.setattr(reproduce, "NOTEBOOKS", (reproduce.NotebookSpec("98_claims", source=path),))
    stale = tmp_path / "out" / "results" / "98_claims.json"
    stale.parent.mkdir(parents=True)
    stale.write_text('{"claim": "from an earlier success"}', encoding="utf-8")
    with pytest.raises(reproduce.NotebookFailed):
        reproduce.reproduce("smoke", output_dir=tmp_path / "out", progress=False)
    assert not stale.exists()
    entry = json.loads((tmp_path / "out" / "manifest.json").read_text())["notebooks"][0]
    assert entry["status"] == "failed" and "results" not in entry
    assert "without encryption" not in capfd.readouterr().err


# runs `python -m bimix reproduce ...` with the registry holding only the notebook named in argv[1]
_ONE_NOTEBOOK = """
import sys
from pathlib import Path
from bimix.cli import main
from bimix.compendium import reproduce
reproduce.NOTEBOOKS = (reproduce.NotebookSpec(Path(sys.argv[1]).stem, source=Path(sys.argv[1])),)
sys.exit(main(["reproduce", *sys.argv[2:]]))
"""


def test_ctrl_c_during_a_notebook_prints_one_line_and_leaves_the_previous_outputs(tmp_path):
    # Ctrl-C used to print the kernel's ZMQError traceback, leave the executed copy cut after the
    # parameters cell and the interrupted notebook's partial results file in place
    path = _notebook(tmp_path / "97_slow.ipynb", nbformat.v4.new_code_cell(
        "import os, pathlib, time\n"
        "pathlib.Path(results_dir, '97_slow.json').write_text('{\"claim\": \"half a run\"}')\n"
        "pathlib.Path(results_dir, 'kernel.pid').write_text(str(os.getpid()))\n"
        "time.sleep(120)"))
    out = tmp_path / "out"
    executed, results = out / "notebooks" / "97_slow.ipynb", out / "results" / "97_slow.json"
    executed.parent.mkdir(parents=True)
    results.parent.mkdir(parents=True)
    executed.write_text("the previous run's executed copy")
    results.write_text('{"claim": "from the previous run"}')
    proc = subprocess.Popen([sys.executable, "-c", _ONE_NOTEBOOK, str(path), "--profile", "smoke",
                             "--output-dir", str(out)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    pid_file, deadline = out / "results" / "kernel.pid", time.monotonic() + 120
    while not pid_file.is_file() or not pid_file.read_text():  # the kernel is inside the slow cell
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the foreground group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "error: interrupted" and "Traceback" not in err, err
    assert executed.read_text() == "the previous run's executed copy"
    assert results.read_text() == '{"claim": "from the previous run"}'
    assert sorted(p.name for p in executed.parent.iterdir()) == ["97_slow.ipynb", "97_slow.kernel.log"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["interrupted"] == "97_slow" and manifest["notebooks"][-1]["status"] == "interrupted"
    deadline = time.monotonic() + 10
    while _running(int(pid_file.read_text())):
        assert time.monotonic() < deadline, "the kernel outlived the interrupted command"
        time.sleep(0.1)


def _running(pid: int) -> bool:
    """Whether the process is alive (a zombie waiting for its parent's wait() is not)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def test_smoke_figures_stay_out_of_the_checkout():
    from bimix.paths import BUILD_DIR, FIGURES_DIR

    (_, params), *_ = reproduce.plan("smoke", ["00_law_in_five_minutes"])
    assert params["figures_dir"] == str(BUILD_DIR / "smoke" / "figures")
    (_, params), *_ = reproduce.plan("cpu", ["00_law_in_five_minutes"])
    assert params["figures_dir"] == str(FIGURES_DIR)


@pytest.mark.slow
def test_notebook_01_runs_through_the_cli(smoke_store, tmp_path):
    env = dict(os.environ)
    out, figures = tmp_path / "build", tmp_path / "figures"
    result = _bimix("reproduce", "--profile", "smoke", "--only", "01_build_corpus",
                    "--output-dir", str(out), "--figures-dir", str(figures), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    claims = json.loads((out / "results" / "01_build_corpus.json").read_text())
    assert claims["corpus"]["hash"] == smoke_store.corpus_hash
    bpe = claims["stores"][smoke_store.meta["tokenizer"]["name"]]
    assert bpe["store_id"] == smoke_store.store_id
    assert {row["domain"] for row in bpe["domains"]} == set(smoke_store.domains)
    assert (figures / "corpus_domains_smoke.png").stat().st_size > 1000
    assert (figures / "corpus_domains_smoke.pdf").stat().st_size > 1000
    executed = nbformat.read(out / "notebooks" / "01_build_corpus.ipynb", as_version=4)
    assert any(cell.get("outputs") for cell in executed.cells if cell.cell_type == "code")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["notebooks"][0]["status"] == "ok"
    assert manifest["environment"]["packages"]["papermill"]


def test_a_kernel_that_dies_is_a_one_line_failure_naming_the_cell(tmp_path):
    # a killed kernel (out of memory, a crash in a C library) used to end `reproduce` in nbclient's
    # DeadKernelError traceback
    path = _notebook(tmp_path / "96_dies.ipynb", nbformat.v4.new_code_cell("x = 1"),
                     nbformat.v4.new_code_cell("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", _ONE_NOTEBOOK, str(path), "--profile", "smoke",
                           "--output-dir", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    # the cell is named when papermill saved the copy after the cells before it (best effort)
    assert len(error) == 1 and re.search(r"96_dies: the kernel died (in the cell at index 3 )?\(killed", error[0]), \
        done.stderr
    assert "Kernel died" not in done.stderr  # nbclient's own log line goes to the kernel log
    entry = json.loads((out / "manifest.json").read_text())["notebooks"][0]
    assert entry["status"] == "failed" and "kernel died" in entry["error"]
    assert sorted(p.name for p in (out / "notebooks").iterdir()) == ["96_dies.ipynb", "96_dies.kernel.log"]
