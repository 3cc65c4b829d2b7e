"""Smoke test of `make bench`: runs every section of bench/run.sh for one
second per measurement so that none of the scripts rots. It checks that each
section prints its table with numbers in every cell, the ratio lines it
promises, and that nothing it started is left running. It asserts nothing
about the numbers themselves: benchmarks are not tests.

A section is skipped when a tool it cannot do without is missing
(scripts/install-deps.sh installs them all, so CI skips nothing)."""
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import GLIA_BIN, REPO, processes_mentioning

RUN = REPO / "bench" / "run.sh"


def _py_has(*modules):
    return all(importlib.util.find_spec(m) is not None for m in modules)


def _nginx():
    return shutil.which("nginx") or (os.access("/usr/sbin/nginx", os.X_OK) and "/usr/sbin/nginx")


# section: (header, table columns, the lines it must print, what it needs)
SECTIONS = {
    "overhead": (
        "== 1. overhead: echo predictor",
        ["server", "conns", "req/s", "p50 us", "p99 us", "errors"],
        [r"glia Python echo / FastAPI \+ uvicorn req/s, 1 conns: "],
        {"wrk": shutil.which("wrk"), "nginx": _nginx()},
    ),
    "gateway": (
        "== 2. the gateway alone",
        ["server", "conns", "req/s", "p50 us", "p99 us", "errors"],
        [r"glia C echo / nginx req/s, 1 conns: ",
         r"p50 added by the gateway hop, 1 conn = "],
        {"wrk": shutil.which("wrk"), "nginx": _nginx()},
    ),
    "model": (
        "== 3. a real model",
        ["server, model", "conns", "req/s", "p50 us", "p99 us", "errors"],
        [],
        {"wrk": shutil.which("wrk"), "python3-sklearn": _py_has("sklearn")},
    ),
    "memory": (
        "== 4. memory",
        ["process", "idle MiB", "under load MiB"],
        [],
        {"wrk": shutil.which("wrk"), "nginx": _nginx()},
    ),
    "bodies": (
        "== big bodies",
        ["proxy", "peak RSS growth MiB", "temp files MiB", "wall s"],
        [],
        {"nginx": _nginx()},
    ),
    "deploy": (
        "== 5. deploy to first prediction",
        ["run", "seconds"],
        [r"median: [0-9.]+ s"],
        {"python3-sklearn": _py_has("sklearn")},
    ),
    "batching": (
        "== server-side batching",
        ["server, model", "conns", "req/s", "p50 us", "p99 us", "errors"],
        [r"batched / unbatched req/s, 16 conns: [0-9.]+x",
         r"batched / unbatched p99, 16 conns: [0-9.]+x",
         r"mean batch size: [0-9.]+ requests \([0-9]+ batches"],
        {"wrk": shutil.which("wrk"), "python3-torch": _py_has("torch")},
    ),
}

# contenders each section must show when their packages are installed
EXPECTED_ROWS = {
    "overhead": [("nginx, fixed 200", True), ("glia, Python echo", True),
                 ("FastAPI + uvicorn", _py_has("fastapi", "uvicorn")),
                 ("Flask + gunicorn", _py_has("flask", "gunicorn"))],
    "gateway": [("nginx, direct", True)],
    "model": [("glia, iris (sklearn)", True),
              ("glia, MLP (torch)", _py_has("torch")),
              ("FastAPI + uvicorn, iris (sklearn)", _py_has("fastapi", "uvicorn"))],
    "memory": [("glia daemon, no API", True),
               ("glia replica, Python echo (1 process)", True),
               ("nginx worker, fixed 200", True)],
    "bodies": [("glia gateway", True), ("nginx 1 worker", True)],
    "deploy": [("1", True)],
    "batching": [("glia, MLP unbatched", True),
                 ("glia, MLP batched (16, 5ms)", True)],
}


def table_after(out, header, columns):
    """The rows of the table printed under the line starting with header:
    lists of cells, split on the column widths the dashed line shows."""
    lines = out.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith(header)), None)
    assert start is not None, f"no line starting with {header!r} in:\n{out}"
    head, dashes = lines[start + 1], lines[start + 2]
    assert re.fullmatch(r"  -+( +-+)*", dashes), f"no dashed rule under {head!r}"
    spans = [m.span() for m in re.finditer(r"-+", dashes)]
    got = [head[a:b].strip() for a, b in spans]
    assert got == columns, f"columns {got!r}, expected {columns!r}"
    rows = []
    for line in lines[start + 3:]:
        if not line.startswith("  ") or line.startswith("  note:") or ": " in line:
            break
        # the first column is left-aligned text; the last cell may be wider
        cells = [line[a:b].strip() for a, b in spans[:-1]]
        cells.append(line[spans[-1][0]:].strip())
        rows.append(cells)
    return rows


@pytest.mark.parametrize("section", list(SECTIONS))
def test_bench_section_prints_its_table(section, tmp_path):
    header, columns, lines, needs = SECTIONS[section]
    missing = [name for name, ok in needs.items() if not ok]
    if missing:
        pytest.skip(f"bench {section} needs {', '.join(missing)} "
                    f"(scripts/install-deps.sh)")
    # a short private TMPDIR: everything the bench starts names it
    tmp = Path(tempfile.mkdtemp(prefix="gbs-", dir="/tmp"))
    env = dict(os.environ, GLIA_BIN=str(GLIA_BIN), BENCH_DURATION="1s",
               BENCH_DEPLOY_RUNS="2", BENCH_BODY_MIB="2", TMPDIR=str(tmp))
    try:
        res = subprocess.run([str(RUN), section], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=300)
        left = processes_mentioning(str(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = res.stdout
    assert res.returncode == 0, f"bench/run.sh {section} exited {res.returncode}\n{out}\n{res.stderr}"
    assert not left, f"bench/run.sh {section} left processes behind: {left}"
    assert "== machine" in out

    rows = table_after(out, header, columns)
    assert rows, f"{section}: empty table\n{out}"
    for row in rows:
        for cell in row[1:]:
            assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?|-", cell), \
                f"{section}: cell {cell!r} of {row!r} is not a number\n{out}"
    labels = [r[0] for r in rows]
    for label, expected in EXPECTED_ROWS[section]:
        if expected:
            assert label in labels, f"{section}: no row {label!r}\n{out}"
    if columns[1] == "conns":
        for row in rows:
            assert float(row[2]) > 0, f"{section}: no requests/s in {row!r}"
    for pattern in lines:
        assert re.search(pattern, out), f"{section}: no line matching {pattern!r}\n{out}"
    # a ratio against a target says whether it is met, or why not measured
    for line in out.splitlines():
        if "(target" in line:
            assert re.search(r"target (NOT )?met\)$", line), line


def test_echo_wrk_script_reports_requests_per_second():
    if not shutil.which("wrk") or not _py_has("sklearn"):
        pytest.skip("bench/echo_wrk.sh needs wrk and python3-sklearn")
    tmp = Path(tempfile.mkdtemp(prefix="gbs-", dir="/tmp"))
    env = dict(os.environ, GLIA_BIN=str(GLIA_BIN), WRK_DURATION="1s",
               TMPDIR=str(tmp))
    try:
        res = subprocess.run([str(REPO / "bench" / "echo_wrk.sh")], env=env,
                             cwd=REPO, capture_output=True, text=True,
                             timeout=300)
        left = processes_mentioning(str(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = res.stdout
    assert res.returncode == 0, f"bench/echo_wrk.sh exited {res.returncode}\n{out}\n{res.stderr}"
    assert not left, f"bench/echo_wrk.sh left processes behind: {left}"
    assert re.search(r"deploy to first prediction: [0-9.]+ s", out), out
    assert re.search(r"echo: [0-9.]+ requests/s", out), out
    assert re.search(r"daemon counted [0-9]+ requests", out), out


def test_cpu_split_script_prints_cpu_per_request():
    if not shutil.which("wrk") or not _nginx():
        pytest.skip("bench/cpu_split.sh needs wrk and nginx")
    tmp = Path(tempfile.mkdtemp(prefix="gbs-", dir="/tmp"))
    env = dict(os.environ, GLIA_BIN=str(GLIA_BIN), BENCH_DURATION="1s",
               TMPDIR=str(tmp))
    try:
        res = subprocess.run([str(REPO / "bench" / "cpu_split.sh")], env=env,
                             cwd=REPO, capture_output=True, text=True,
                             timeout=300)
        left = processes_mentioning(str(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = res.stdout
    assert res.returncode == 0, f"bench/cpu_split.sh exited {res.returncode}\n{out}\n{res.stderr}"
    assert not left, f"bench/cpu_split.sh left processes behind: {left}"
    columns = ["server", "conns", "req/s", "process", "CPU %", "CPU us/req",
               "switches/req"]
    rows = table_after(out, "== CPU split", columns)
    labels = {(r[0], r[3]) for r in rows}
    assert ("glia, Python echo", "gateway") in labels, out
    assert ("glia, Python echo", "worker") in labels, out
    for row in rows:
        for cell in row[1:3] + row[4:]:
            assert re.fullmatch(r"[0-9]+(\.[0-9]+)?", cell), (row, out)


def test_oip_section_compares_json_and_binary_tensors():
    tmp = Path(tempfile.mkdtemp(prefix="gbs-", dir="/tmp"))
    env = dict(os.environ, GLIA_BIN=str(GLIA_BIN), BENCH_DURATION="1s",
               BENCH_OIP_REQUESTS="2", TMPDIR=str(tmp))
    try:
        res = subprocess.run([str(RUN), "oip"], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=300)
        left = processes_mentioning(str(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = res.stdout
    assert res.returncode == 0, f"bench/run.sh oip exited {res.returncode}\n{out}\n{res.stderr}"
    assert not left, f"bench/run.sh oip left processes behind: {left}"
    assert "== Open Inference Protocol V2" in out
    rates = {m.group(1): float(m.group(2)) for m in
             re.finditer(r"^  (JSON|binary) +([0-9.]+)", out, re.M)}
    assert set(rates) == {"JSON", "binary"} and all(rates.values()), out
    assert re.search(r"binary / JSON req/s: [0-9.]+x", out), out
