"""The job server (hlmrep.job_server): a job run as a fork of the run's warm process does
what its own process does, byte for byte, with its exit status and its messages; what
the server cannot run as the job's own process would is refused and runs on its own; a
killed job leaves nothing running; a workflow run leaves no server behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hlmrep import job_server

ROOT = Path(__file__).resolve().parents[2]
SRC = str(ROOT / "src")


def _wait_for(path: Path, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no server socket at {path}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server():
    """A server as the Snakefile starts one (this process as its Snakemake process)."""
    # (pytest names the running test in the environment: neither the server nor the jobs
    # get that, as a workflow run's jobs all get the environment the run started with)
    test = os.environ.pop("PYTEST_CURRENT_TEST", None)
    environment = job_server.start(src=SRC)
    if test is not None:
        os.environ["PYTEST_CURRENT_TEST"] = test
    socket_path = Path(environment[job_server.SOCKET_VARIABLE])
    _wait_for(socket_path)
    yield environment
    job_server.stop(environment)
    assert not socket_path.parent.exists()


def _job_environment(server_environment: dict[str, str], **extra: str) -> dict[str, str]:
    """A job's environment as Snakemake gives it: the run's, one thread, src first."""
    environment = {**os.environ, **server_environment, **extra}
    environment.pop("PYTEST_CURRENT_TEST", None)
    environment.update(dict.fromkeys(job_server.SNAKEMAKE_THREAD_VARIABLES, "1"))
    environment["PYTHONPATH"] = SRC + (
        os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else ""
    )
    return environment


def _fit(out: Path, data: Path, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    out.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "hlmrep", "fit-model", "--data", str(data), "--name", "model3",
        "--formula", "mathach ~ cses + (cses | school)", "--out-fit", str(out / "fit.json"),
        "--out-schools", str(out / "schools.csv"), "--out-hlm", str(out / "hlm.json"),
        "--out-observations", str(out / "observations.csv"),
    ]  # fmt: skip
    # in the folder the server was started from, as every job of a run is: with -m, the
    # working folder is first on the module path
    return subprocess.run(command, env=environment, capture_output=True, text=True)


def _server_log(server_environment: dict[str, str]) -> str:
    folder = Path(server_environment[job_server.SOCKET_VARIABLE]).parent
    return (folder / "server.log").read_text()


def test_a_job_through_the_server_writes_what_its_own_process_writes(
    server, prepared_file, tmp_path
):
    served = _fit(tmp_path / "served", prepared_file, _job_environment(server))
    own = _fit(tmp_path / "own", prepared_file, _job_environment({}))
    assert served.returncode == own.returncode == 0, served.stderr + own.stderr
    for name in ("fit.json", "schools.csv", "hlm.json", "observations.csv"):
        assert (tmp_path / "served" / name).read_bytes() == (tmp_path / "own" / name).read_bytes()
    assert served.stdout == own.stdout  # the summary, printed as lme4 prints it
    assert "started fit-model" in _server_log(server)  # the fork ran it
    assert "runs in its own process" not in _server_log(server)
    assert "run by the job server: peak memory" in served.stderr


def test_a_failing_job_fails_through_the_server_with_its_message(server, tmp_path):
    done = _fit(tmp_path / "out", tmp_path / "absent.csv", _job_environment(server))
    assert done.returncode == 1
    assert "absent.csv" in done.stderr and "Traceback" not in done.stderr


def test_a_job_in_another_environment_runs_in_its_own_process(server, prepared_file, tmp_path):
    """numba reads its settings when it loads: a job asking for others cannot be a fork
    of the server (nor can a cluster job with its own SLURM_JOB_ID)."""
    environment = _job_environment(server, NUMBA_OPT="2")
    done = _fit(tmp_path / "out", prepared_file, environment)
    assert done.returncode == 0, done.stderr
    assert "fit-model runs in its own process: environment differs in ['NUMBA_OPT']" in (
        _server_log(server)
    )


def test_without_a_server_a_job_runs_in_its_own_process(prepared_file, tmp_path):
    environment = _job_environment({job_server.SOCKET_VARIABLE: str(tmp_path / "none")})
    done = _fit(tmp_path / "out", prepared_file, environment)
    assert done.returncode == 0, done.stderr


def test_a_killed_job_leaves_no_child_running(server, prepared_file, tmp_path):
    """Snakemake cancelling a job kills its process; the server then kills the fork."""
    fit = tmp_path / "fit"
    assert _fit(fit, prepared_file, _job_environment({})).returncode == 0
    command = [
        sys.executable, "-m", "hlmrep", "bootstrap-chunk", "--name", "long", "--kind",
        "confint", "--nsim", "1000000", "--seed", "1", "--chunk", "0", "--chunk-size",
        "1000000", "--data", str(prepared_file), "--fit", str(fit / "fit.json"),
        "--out", str(tmp_path / "chunk.csv"),
    ]  # fmt: skip
    job = subprocess.Popen(command, env=_job_environment(server), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while "started bootstrap-chunk" not in _server_log(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    children = _forks_of_server(server)
    assert children, "the job did not reach the server"
    job.send_signal(signal.SIGKILL)
    job.wait()
    deadline = time.monotonic() + 10
    while _forks_of_server(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _forks_of_server(server)
    assert not (tmp_path / "chunk.csv").exists()


def _forks_of_server(server_environment: dict[str, str]) -> list[int]:
    pid = job_server._STARTED[server_environment[job_server.SOCKET_VARIABLE]].pid
    done = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in done.stdout.split()]


def test_a_request_that_is_not_one_is_refused_and_the_server_goes_on(
    server, prepared_file, tmp_path
):
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(server[job_server.SOCKET_VARIABLE])
        connection.sendall(b"GET / HTTP/1.0\r\n\r\n")
        connection.settimeout(10)
        assert connection.recv(100) == b""
    done = _fit(tmp_path / "after", prepared_file, _job_environment(server))
    assert done.returncode == 0, done.stderr


def test_a_request_of_another_shape_or_a_silent_one_never_stops_the_server(
    server, prepared_file, tmp_path
):
    """Valid JSON that is not a request (with the three descriptors), and a connection
    that sends nothing: each is closed; the jobs after them are served."""
    import json
    import socket
    import struct

    path = server[job_server.SOCKET_VARIABLE]
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(path)
    for body in (b"[]", json.dumps({"argv": [], "cwd": "/"}).encode(), b"{" * 100000):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(path)
            socket.send_fds(connection, [struct.pack("!Q", len(body)) + body], [0, 1, 2])
            connection.settimeout(10)
            assert connection.recv(100) == b""
    started = time.monotonic()
    done = _fit(tmp_path / "after", prepared_file, _job_environment(server))
    silent.close()
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    assert "a request failed" in _server_log(server)


@pytest.mark.parametrize(("arguments", "status"), [(["--help"], 0), (["--nsim", "x"], 2)])
def test_a_job_that_exits_early_exits_with_its_own_status(server, arguments, status):
    environment = _job_environment(server)
    command = [sys.executable, "-m", "hlmrep", "bootstrap-chunk", *arguments]
    served = subprocess.run(command, env=environment, capture_output=True, text=True)
    own = subprocess.run(command, env=_job_environment({}), capture_output=True, text=True)
    assert served.returncode == own.returncode == status
    assert served.stdout == own.stdout


# ----- a shell's server (job-server --start): the user's commands -----------------------------


def _shell_environment() -> dict[str, str]:
    """The environment of a shell that runs ``python -m hlmrep`` with this checkout."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    environment.pop(job_server.SOCKET_VARIABLE, None)
    environment["PYTHONPATH"] = SRC + (
        os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else ""
    )
    return environment


def _hlmrep(arguments: list[str], cwd: Path, environment: dict[str, str]):
    return subprocess.run([sys.executable, "-m", "hlmrep", *arguments], cwd=cwd,
                          env=environment, capture_output=True, text=True)  # fmt: skip


def test_a_shell_server_runs_the_users_commands_in_any_folder_as_their_own_processes(
    prepared_file, tmp_path
):
    """`eval "$(python -m hlmrep job-server --start)"`, then `fit` in another folder
    prints what its own process prints, byte for byte, through the server; --stop ends
    it and removes its folder."""
    environment = _shell_environment()
    started = _hlmrep(["job-server", "--start"], tmp_path, environment)
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith(f"export {job_server.SOCKET_VARIABLE}=")
    assert "ResourceWarning" not in started.stderr
    socket_path = Path(started.stdout.strip().partition("=")[2].strip("'"))
    served_environment = {**environment, job_server.SOCKET_VARIABLE: str(socket_path)}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    try:
        command = ["fit", str(prepared_file), "mathach ~ cses + (cses | school)", "--ml"]
        served = _hlmrep(command, elsewhere, served_environment)
        own = _hlmrep(command, elsewhere, environment)
        assert served.returncode == own.returncode == 0, served.stderr + own.stderr
        assert served.stdout == own.stdout and "REML" not in served.stdout
        log = (socket_path.parent / "server.log").read_text()
        assert "started fit" in log and "runs in its own process" not in log
        # a relative path is the command's folder's, as in its own process
        (elsewhere / "data.csv").write_bytes(prepared_file.read_bytes())
        relative = _hlmrep(["fit", "data.csv", *command[2:]], elsewhere, served_environment)
        assert relative.stdout == own.stdout, relative.stderr
        assert "runs in its own process" not in (socket_path.parent / "server.log").read_text()
        # an interpreter setting the server did not start with: its own process
        numba_opt = _hlmrep(command, elsewhere, {**served_environment, "NUMBA_OPT": "2"})
        assert numba_opt.stdout == own.stdout
        assert (
            "environment differs in ['NUMBA_OPT']"
            in (socket_path.parent / "server.log").read_text()
        )
    finally:
        stopped = _hlmrep(["job-server", "--stop"], tmp_path, served_environment)
    assert stopped.returncode == 0 and stopped.stdout.strip() == (
        f"unset {job_server.SOCKET_VARIABLE}"
    )
    assert not socket_path.parent.exists()
    assert _hlmrep(["job-server", "--stop"], tmp_path, served_environment).returncode == 1


def test_a_shell_server_stops_by_itself_when_idle(tmp_path):
    environment = _shell_environment()
    started = _hlmrep(["job-server", "--start", "--idle-seconds", "0.5"], tmp_path, environment)
    assert started.returncode == 0, started.stderr
    folder = Path(started.stdout.strip().partition("=")[2].strip("'")).parent
    deadline = time.monotonic() + 30
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not folder.exists()


def test_a_server_that_loaded_a_module_from_its_folder_serves_only_that_folder(
    tmp_path, monkeypatch
):
    """With `python -m`, the working folder is first on the module path: a module the
    server imported through it would be another module in another folder."""
    import types

    request = {"path": [str(tmp_path / "b"), *sys.path[1:]], "cwd": str(tmp_path / "b")}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path[1:]])
    assert job_server._only_folder_differs(request)
    local = types.ModuleType("helper_in_the_folder")
    local.__file__ = str(tmp_path / "helper_in_the_folder.py")
    monkeypatch.setitem(sys.modules, "helper_in_the_folder", local)
    assert not job_server._only_folder_differs(request)
    other = {**request, "path": [str(tmp_path / "b"), "/elsewhere", *sys.path[1:]]}
    monkeypatch.delitem(sys.modules, "helper_in_the_folder")
    assert not job_server._only_folder_differs(other)


# ----- the run's first jobs and a server that is starting -------------------------------------


def test_a_job_that_starts_with_the_server_waits_for_it(prepared_file, tmp_path):
    """The first jobs of a run start while the server imports: they wait and are served."""
    test = os.environ.pop("PYTEST_CURRENT_TEST", None)
    environment = job_server.start(src=SRC)
    if test is not None:
        os.environ["PYTEST_CURRENT_TEST"] = test
    try:
        socket_path = Path(environment[job_server.SOCKET_VARIABLE])
        assert not socket_path.exists()  # still importing
        done = _fit(tmp_path / "first", prepared_file, _job_environment(environment))
        assert done.returncode == 0, done.stderr
        assert "run by the job server" in done.stderr
        assert "started fit-model" in _server_log(environment)
    finally:
        job_server.stop(environment)


def test_a_server_that_died_while_starting_is_not_waited_for(tmp_path, monkeypatch):
    """Its process gone (or a zombie) and no socket: the job runs on its own at once."""
    folder = tmp_path / "server"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (folder / job_server.PID_FILE).write_text(f"{dead.pid}\n")
    monkeypatch.setenv(job_server.SOCKET_VARIABLE, str(folder / "socket"))
    started = time.monotonic()
    assert job_server.run_remote(["fit-model", "--help"]) is None
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    time.sleep(0.5)  # exited, not reaped: a zombie
    (folder / job_server.PID_FILE).write_text(f"{zombie.pid}\n")
    assert job_server.run_remote(["fit-model", "--help"]) is None
    zombie.wait()
    assert time.monotonic() - started < 5


def test_no_job_server_when_the_run_says_so(monkeypatch):
    monkeypatch.setenv(job_server.OFF_VARIABLE, "1")
    assert job_server.start(src=SRC) == {}
