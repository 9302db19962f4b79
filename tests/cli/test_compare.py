"""`dbkit compare` of two real scenario results: ratios, the spread of repeats, gates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, dbkit

# A small scenario: pool-20 twice (repeats of one name), and a run only this file has.
SCENARIO = """
description = "compare test: {what}"
[server]
max_connections = 60
[defaults]
tasks = 200
queries = 1
hold = 0.02
[[runs]]
strategy = "pool"
pool_size = 20
[[runs]]
strategy = "pool"
pool_size = 20
[[runs]]
strategy = "pool"
pool_size = {extra}
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """BASE and NEW: the scenario run twice on the embedded server, the third run differing."""
    root = tmp_path_factory.mktemp("compare")
    paths = []
    for what, extra in (("base", 5), ("new", 10)):
        toml = root / f"{what}.toml"
        toml.write_text(SCENARIO.format(what=what, extra=extra))
        out = root / f"{what}.json"
        proc = dbkit("scenario", str(toml), "--server", "embedded", "--out", str(out), cwd=root)
        assert proc.returncode == 0, proc.stderr
        paths.append(out)
    return paths[0], paths[1]


def test_compare_prints_ratios_per_run_and_figure_and_exits_0(results: tuple[Path, Path]) -> None:
    base, new = results
    proc = dbkit("compare", str(base), str(new))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == [f"base: {base}", f"new:  {new}"]
    header = next(i for i, line in enumerate(lines) if line.startswith("run "))
    assert lines[header].split() == ["run", "figure", "base", "new", "new/base", "difference"]
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[header + 2 : header + 8]]
    assert rows[0][0] == "pool-20 (x2 / x2)"  # the scenario ran it twice: two repeats a side
    cells = [row[-5:] for row in rows]
    assert [c[0] for c in cells] == ["qps", "p50", "p99", "wait_p99", "errors", "peak"]
    for figure, _, _, ratio, difference in cells:
        assert re.fullmatch(r"[0-9]+\.[0-9]{2}x", ratio), (figure, ratio)  # all measured
        # two repeats a side give a spread: never "no spread known"
        assert difference in ("same", "within the spread (noise)") or difference.endswith(
            ", outside the spread"
        ), (figure, difference)
    assert cells[4][1:4] == ["0", "0", "1.00x"]  # errors: none on either side
    assert "only in " + str(base) + ": pool-5" in proc.stdout
    assert "only in " + str(new) + ": pool-10" in proc.stdout


def test_a_failing_gate_exits_3_with_the_verdict_first(results: tuple[Path, Path]) -> None:
    base, new = results
    proc = dbkit("compare", str(base), str(new), "--check", "qps>=100*base",
                 "--check", "errors<=base")  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("FAIL qps>=100*base (pool-20: qps ")
    assert ", bound " in lines[0]
    assert lines[1].startswith("PASS errors<=base (pool-20: errors 0, bound 0")
    assert lines[2] == "checks: 2, 1 failed"


def test_passing_gates_exit_0_and_json_is_the_comparison(results: tuple[Path, Path]) -> None:
    base, new = results
    proc = dbkit("compare", str(base), str(new), "--check", "qps>=0.01*base",
                 "--check", "pool-20.p99<=100*base", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["passed"] is True and doc["only_base"] == ["pool-5"]
    assert doc["only_new"] == ["pool-10"]
    (run,) = doc["runs"]
    assert (run["name"], run["base_repeats"], run["new_repeats"]) == ("pool-20", 2, 2)
    qps = run["figures"][0]
    assert qps["figure"] == "qps" and qps["ratio"] == pytest.approx(qps["new"] / qps["base"])
    assert len(qps["base_values"]) == 2
    assert "PASS qps>=0.01*base" in proc.stderr  # with --json the verdict goes to stderr


def test_plot_draws_both_side_by_side(results: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib draws the plot")
    base, new = results
    png = tmp_path / "cmp.png"
    proc = dbkit("compare", str(base), str(new), "--plot", str(png))
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {png} (throughput" in proc.stderr
    again = dbkit("compare", str(base), str(new), "--plot", str(png))
    assert_one_line_error(again, 2, "already exists")


def test_bad_input_is_one_line_and_exit_2(results: tuple[Path, Path], tmp_path: Path) -> None:
    base, _ = results
    assert_one_line_error(dbkit("compare", str(base), str(tmp_path / "no.json")), 2,
                          "no such file")  # fmt: skip
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert_one_line_error(dbkit("compare", str(broken), str(base)), 2, "not a readable JSON")
    # a malformed gate is refused before any file is read: the missing files go unmentioned
    proc = dbkit("compare", "/nonexistent/a.json", "/nonexistent/b.json", "--check", "qps>=x*base")
    assert_one_line_error(proc, 2, "'x' is not a number")
    # base means nothing where there is no base
    proc = dbkit("run", "pool", "--check", "qps>=0.95*base", cwd=tmp_path)
    assert_one_line_error(proc, 2, "'base' is known only when comparing")
    assert list(tmp_path.iterdir()) == [broken]  # nothing ran, nothing was written
