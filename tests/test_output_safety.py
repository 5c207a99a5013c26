"""asyncsim writes only inside its output directory and deletes only what it wrote: output names
are single path components, a foreign directory is refused (or, with --overwrite, written into
without removing anything), and a rewrite removes only the earlier run's own files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bad_input import BASE, BASE_TEXT, assert_one_line_error, asyncsim, changes, snapshot

from asyncsim.errors import AsyncSimError, ConfigError
from asyncsim.files import check_method_key, check_output_name
from asyncsim.results import COMPLETE, check_run_dir, is_complete, load_run, write_run
from asyncsim.runner import RunResult, simulate

# ---------------------------------------------------------------- the name rule


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("..", "must not be '.' or '..'"),
        (".", "must not be '.' or '..'"),
        ("../../etc/x", "must not contain '/'"),
        ("/abs/path", "must not contain '/'"),
        ("a\\b", "must not contain '/'"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("a\0b", "printable characters only"),
        ("a\nb", "printable characters only"),
        ("é" * 101, "at most 200 bytes"),
        (5, "must be a string"),
    ],
)
def test_output_names_must_be_one_plain_component(name: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_output_name(name, "name")
    assert str(caught.value).startswith("name: ") and fragment in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "name", ["quickstart", "fig1a-humanoid", "rennala (M=4)", "...", "é" * 100]
)
def test_ordinary_names_pass(name: str) -> None:
    check_output_name(name, "name")
    check_method_key(name, "methods[0].label")


def test_method_keys_must_not_shadow_the_run_files() -> None:
    for key in ("COMPLETE", "metadata.json", "scenario.yaml", "plots", "error.txt"):
        with pytest.raises(ConfigError, match=r"^methods\[0\]\.label: '.*' is the name of"):
            check_method_key(key, "methods[0].label")


# ---------------------------------------------------------------- the command: data safety


def _user_files(root: Path, scenario_text: str) -> Path:
    """A working directory as in the report: the input, results/, a user folder, a cache file."""
    (root / "results").mkdir(parents=True)
    (root / "scenario.yaml").write_text(scenario_text)
    (root / "mydata").mkdir()
    (root / "mydata" / "summary.json").write_text('{"mine": true}\n')
    (root / "mydata" / "notes.txt").write_text("keep me\n")
    (root / ".cache.tmp").write_text("cache\n")
    return root / "scenario.yaml"


@pytest.mark.parametrize("overwrite", [False, True])
def test_name_dotdot_leaves_the_working_directory_alone(tmp_path: Path, overwrite: bool) -> None:
    """Formerly: scenario.yaml overwritten, mydata/ and .cache.tmp deleted.

    With --overwrite only the scenario validation (the name rule) can refuse it."""
    work = tmp_path / "work"
    scenario = _user_files(work, BASE_TEXT.replace("name: bad-input", 'name: ".."'))
    before = snapshot(tmp_path)
    args = ["--overwrite"] if overwrite else []
    outcome = asyncsim("run", scenario.name, "--no-plots", *args, cwd=work)
    fields = ("name",) if overwrite else ("name", "results/..")
    assert_one_line_error(outcome, fields)
    assert changes(before, snapshot(tmp_path)) == []


def _foreign_dir(root: Path) -> Path:
    existing = root / "existing"
    (existing / "sub").mkdir(parents=True)
    (existing / "sub" / "keep.txt").write_text("keep\n")
    (existing / "other").mkdir()
    (existing / "other" / "summary.json").write_text("{}\n")  # looks like a method directory
    (existing / "notes.txt").write_text("mine\n")
    (existing / ".x.tmp").write_text("mine too\n")
    return existing


def test_out_existing_foreign_directory_is_refused(tmp_path: Path) -> None:
    """Formerly: foreign sub-folders holding a summary.json and .tmp files were deleted."""
    existing = _foreign_dir(tmp_path)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(BASE_TEXT)
    before = snapshot(tmp_path)
    outcome = asyncsim("run", scenario, "--out", existing, "--no-plots", cwd=tmp_path)
    message = assert_one_line_error(outcome, str(existing))
    assert "holds no asyncsim run" in message and "--overwrite" in message
    assert changes(before, snapshot(tmp_path)) == []


def test_overwrite_writes_the_run_and_keeps_every_foreign_file(tmp_path: Path) -> None:
    existing = _foreign_dir(tmp_path)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(BASE_TEXT)
    before = snapshot(tmp_path)
    outcome = asyncsim(
        "run", scenario, "--out", existing, "--no-plots", "--overwrite", cwd=tmp_path
    )
    assert outcome.returncode == 0, outcome.stderr
    after = snapshot(tmp_path)
    assert [key for key in changes(before, after) if key in before] == []  # nothing changed
    assert all(key.startswith("existing/") for key in changes(before, after))
    assert is_complete(existing) and list(load_run(existing).methods) == ["rennala_nigt", "afedpg"]


def test_rerun_removes_only_the_earlier_runs_own_files(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(BASE_TEXT)
    out = tmp_path / "out"
    assert asyncsim("run", scenario, "--out", out, cwd=tmp_path).returncode == 0
    (out / "afedpg" / "my_notes.txt").write_text("mine\n")
    (out / "analysis").mkdir()
    (out / "analysis" / "summary.json").write_text("{}\n")
    (out / ".cache.tmp").write_text("mine\n")
    plots = snapshot(out / "plots")
    scenario.write_text(BASE_TEXT.replace(", {name: afedpg}", ""))
    before = snapshot(out)
    refused = asyncsim("run", scenario, "--out", out, "--no-plots", cwd=tmp_path)
    assert_one_line_error(refused, str(out))  # another scenario's results: not replaced
    assert "holds the results of another version of scenario" in refused.stderr
    assert changes(before, snapshot(out)) == []
    outcome = asyncsim("run", scenario, "--out", out, "--no-plots", "--overwrite", cwd=tmp_path)
    assert outcome.returncode == 0, outcome.stderr
    assert sorted(p.name for p in (out / "afedpg").iterdir()) == ["my_notes.txt"]
    assert (out / "analysis" / "summary.json").read_text() == "{}\n"
    assert (out / ".cache.tmp").read_text() == "mine\n"
    assert snapshot(out / "plots") == plots
    assert list(load_run(out).methods) == ["rennala_nigt"]


# ---------------------------------------------------------------- the command: names (validation)
# These need the name rule in the scenario validation (config.validate_scenario calling
# asyncsim.files.check_output_name / check_method_key).

BAD_NAMES = {
    "../../etc/x": "name: '../../etc/x'",
    "absolute": "name: '{abs}'",
    "empty": "name: ''",
    "NUL byte": 'name: "a\\0b"',
    "dotdot": "name: '..'",
}


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_bad_name_is_refused_at_validation(case: str, command: str, tmp_path: Path) -> None:
    work = tmp_path / "work" / "a" / "b"
    work.mkdir(parents=True)
    line = BAD_NAMES[case].format(abs=tmp_path / "abs" / "path")
    scenario = work / "scenario.yaml"
    scenario.write_text(BASE_TEXT.replace("name: bad-input", line))
    before = snapshot(tmp_path)
    assert_one_line_error(
        asyncsim(command, "scenario.yaml", "--no-plots", cwd=work)
        if command == "run"
        else asyncsim(command, "scenario.yaml", cwd=work),
        "name",
    )
    assert changes(before, snapshot(tmp_path)) == []


@pytest.mark.parametrize("command", ["validate", "sweep"])
def test_bad_sweep_name_is_refused(command: str, tmp_path: Path) -> None:
    work = tmp_path / "work" / "a" / "b"
    work.mkdir(parents=True)
    scenario = work / "sweep.yaml"
    scenario.write_text(
        BASE_TEXT.replace("name: bad-input", "name: ../../x") + "sweep: {seed: [0, 1]}\n"
    )
    before = snapshot(tmp_path)
    args = ["--workers", "1", "-q"] if command == "sweep" else []
    message = assert_one_line_error(
        asyncsim(command, "sweep.yaml", *args, cwd=work), ("name", "sweep point seed=0: name")
    )
    assert "'../../x'" in message
    assert changes(before, snapshot(tmp_path)) == []


def test_bad_method_label_is_refused_at_validation(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(BASE_TEXT.replace("{name: afedpg}", "{name: afedpg, label: ../x}"))
    outcome = asyncsim("validate", scenario, cwd=tmp_path)
    assert "must not contain '/'" in assert_one_line_error(outcome, "methods[1].label")


# ---------------------------------------------------------------- write_run and check_run_dir


@pytest.fixture(scope="module")
def run() -> RunResult:
    return simulate(BASE)


def test_check_run_dir_tells_the_kinds_of_directory(run: RunResult, tmp_path: Path) -> None:
    assert check_run_dir(tmp_path / "missing") is False
    (tmp_path / "empty").mkdir()
    assert check_run_dir(tmp_path / "empty") is False
    assert check_run_dir(write_run(run, tmp_path / "run")) is True
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "metadata.json").write_text('{"author": "me"}\n')  # not asyncsim's
    with pytest.raises(AsyncSimError, match=r"holds no asyncsim run .*'metadata\.json'"):
        check_run_dir(foreign)
    assert check_run_dir(foreign, overwrite=True) is False
    leftovers = tmp_path / "leftovers"  # a killed writer's temporary file, a sweep's error
    leftovers.mkdir()
    (leftovers / ".metadata.json.123.tmp").write_text("partial")
    (leftovers / "error.txt").write_text("an earlier failure\n")
    (leftovers / ".error.txt.9.tmp").write_text("an earlier failure\n")
    assert check_run_dir(leftovers) is False
    with pytest.raises(AsyncSimError, match="NUL byte"):
        check_run_dir(tmp_path / "a\0b")
    (tmp_path / "file.txt").write_text("x\n")
    with pytest.raises(AsyncSimError, match="exists and is not a directory"):
        check_run_dir(tmp_path / "file.txt", overwrite=True)


def test_a_killed_writers_leftovers_are_removed_and_foreign_ones_kept(
    run: RunResult, tmp_path: Path
) -> None:
    out = write_run(run, tmp_path / "run")
    (out / COMPLETE).unlink()  # killed before the end
    own = [out / ".trace.csv.77.tmp", out / "afedpg" / ".trace.csv.77.tmp"]
    own[0].write_text("partial")
    own[1].write_text("partial")
    foreign = [out / ".cache.tmp", out / "afedpg" / ".notes.77.tmp", out / "x" / ".trace.csv.1.tmp"]
    foreign[2].parent.mkdir()
    for path in foreign:
        path.write_text("mine")
    write_run(run, out)
    assert is_complete(out)
    assert not (out / "afedpg" / ".trace.csv.77.tmp").exists()
    assert all(path.read_text() == "mine" for path in foreign)


def test_metadata_is_written_first_and_names_the_methods(
    run: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("asyncsim.results._write_method", fail)
    with pytest.raises(OSError, match="disk full"):
        write_run(run, tmp_path / "run")
    metadata = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert metadata["methods"] == ["rennala_nigt", "afedpg"]
    assert check_run_dir(tmp_path / "run") is True  # the unfinished run is recognised as ours


def test_run_directories_of_earlier_versions_are_rewritten(run: RunResult, tmp_path: Path) -> None:
    out = write_run(run, tmp_path / "run")
    metadata = json.loads((out / "metadata.json").read_text())
    del metadata["methods"]  # as written before metadata named the methods
    (out / "metadata.json").write_text(json.dumps(metadata))
    only_first = RunResult(run.scenario, {"rennala_nigt": run.methods["rennala_nigt"]})
    write_run(only_first, out)
    assert is_complete(out)
    assert (out / "afedpg" / "summary.json").is_file()  # not known to be its own: kept


def test_a_symlinked_method_directory_is_not_followed(run: RunResult, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "run"
    out.mkdir()
    (out / "rennala_nigt").symlink_to(outside)
    with pytest.raises(AsyncSimError, match="symbolic link"):
        write_run(run, out, overwrite=True)
    assert list(outside.iterdir()) == []


def test_a_sweep_point_directory_with_an_error_file_is_written(
    run: RunResult, tmp_path: Path
) -> None:
    point = tmp_path / "points" / "abc"
    point.mkdir(parents=True)
    (point / "error.txt").write_text("earlier failure\n")
    write_run(run, point)
    assert is_complete(point) and (point / "error.txt").read_text() == "earlier failure\n"
