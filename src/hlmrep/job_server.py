"""Jobs as forks of one warm process: the start-up every job paid, paid once per run.

A job of the workflow is ``python -m hlmrep <job> ...``; before it does its work it
imports numpy, pandas, numba, scipy and loads the compiled kernels, about 0.6 s of a
fit job's 0.85 s (docs/benchmarks.md). While a Snakemake run lasts, :func:`serve` keeps
one process that has done all that, listening on a Unix socket in a folder only its
user can open (started while the workflow is parsed, stopped by the Snakefile's
``onsuccess``/``onerror`` or at exit; a job that starts before it listens waits for it).
A job process that finds it (:func:`run_remote`, from
:func:`hlmrep.cli.run_job`) hands it its arguments, working folder, environment and
standard streams (the file descriptors themselves, ``SCM_RIGHTS``) and waits; the server
forks a child that runs the job exactly as the job process would have (:func:`hlmrep.cli.main`
in that folder, with that environment, writing to those streams) and reports its exit
status. The job process exits with it; its log, its outputs and its exit code are the
job's, so Snakemake, its logs and benchmarks see no difference.

What could make a forked job compute something else is refused, and the job then runs
in its own process as before: another interpreter or module path (a conda environment,
another checkout), an environment that differs in a variable a library reads when it is
loaded (any variable but :data:`PER_JOB_VARIABLES`: OpenBLAS's and numba's settings, a
cluster job's own ids among them), a
package file changed since the server loaded it. A job on another machine (a cluster
node) finds no socket and runs in its own process. If the job process is killed (Snakemake
cancels a job), the server kills the child's process group. The grading jobs' bounds on
time and memory are set in their own child processes, as before.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess

#: The environment variable that names the server's socket (set for the jobs of a run).
SOCKET_VARIABLE = "HLMREP_JOB_SERVER"
#: Environment variables that may differ between a job and the server: set per job by
#: Snakemake or the shell and read by nothing a job loads. Any other difference (OpenBLAS's
#: and numba's settings, pandas' and matplotlib's, HOME, a cluster job's SLURM_JOB_ID)
#: and the job runs in its own process.
PER_JOB_VARIABLES = frozenset(
    {"TMPDIR", "TMP", "TEMP", "TEMPDIR", "SHLVL", "_", "PWD", "OLDPWD", SOCKET_VARIABLE}
)
#: The thread counts Snakemake gives each job's environment (its ``threads``).
SNAKEMAKE_THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
)  # fmt: skip
#: The largest request (arguments and environment) a server reads.
MAX_REQUEST_BYTES = 4 << 20
#: How often the server checks that the Snakemake process it serves is alive.
POLL_SECONDS = 0.05


#: How long a connection may take to send its request, and a job to hear "started".
REQUEST_SECONDS = 2.0
STARTED_SECONDS = 10.0
#: Set (to anything) in the environment of a workflow run: no server, every job in its own
#: process (to profile a job, or to compare).
OFF_VARIABLE = "HLMREP_NO_JOB_SERVER"
#: How long a job waits for a server that is starting (:func:`_started`).
START_SECONDS = 30.0
#: The file in the server's folder that names its process, from its start.
PID_FILE = "server.pid"


def _compared_environment(environment: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in environment.items() if key not in PER_JOB_VARIABLES}


# ----- the job's side -------------------------------------------------------------------
def run_remote(argv: list[str], report_usage: bool = True) -> int | None:
    """Run the job ``argv`` in the run's server; its exit status, or None when there is no
    server here or it refuses (the caller then runs the job itself). ``report_usage``: say
    the fork's peak memory and CPU time on standard error (a job's log)."""
    path = os.environ.get(SOCKET_VARIABLE)
    if not path or not _started(Path(path)):
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        return None
    with connection:
        request = json.dumps(
            {
                "argv": argv,
                "cwd": os.getcwd(),
                "environment": dict(os.environ),
                "executable": os.path.realpath(sys.executable),
                "path": sys.path,
            }
        ).encode()
        started = False
        try:
            connection.settimeout(STARTED_SECONDS)
            message = struct.pack("!Q", len(request)) + request
            sent = socket.send_fds(connection, [message], [0, 1, 2])
            connection.sendall(message[sent:])
            reply = connection.makefile("r", encoding="utf-8")
            if reply.readline().strip() != "started":
                return None  # refused (the reason is in the server's log)
            started = True
            connection.settimeout(None)  # the job takes what it takes
            last = reply.readline().strip()
        except OSError:
            if not started:
                return None
            last = ""
        if last.startswith("exit "):
            words = last.split()
            if len(words) == 4 and report_usage:  # Snakemake's benchmark file: this process
                print(f"INFO hlmrep: run by the job server: peak memory "
                      f"{int(words[2]) / 1024:.0f} MB, CPU {float(words[3]):.2f} s",
                      file=sys.stderr, flush=True)  # fmt: skip
            return int(words[1])
        print("error: the job server ended before the job did", file=sys.stderr)
        return 1


def _started(socket_path: Path, seconds: float = START_SECONDS) -> bool:
    """Whether the server listens at ``socket_path``, waiting while it is starting.

    The first jobs of a run start with the server (it takes 1.5-2 s to import and load
    the kernels). Run on their own they would pay the same imports, on the same two
    cores, and finish later than waiting does (measured: the first fits took 1.5 s on
    their own, 0.2 s as forks); so a job waits while the server's process lives and has
    not listened yet, at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while not socket_path.exists():
        try:
            pid = int((socket_path.parent / PID_FILE).read_text())
        except (OSError, ValueError):
            return False
        if not _running(pid) or time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _running(pid: int) -> bool:
    """Whether ``pid`` runs: alive and, on Linux, not a zombie (a server that failed to
    start stays one until the Snakemake process reaps it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[:1]
    except FileNotFoundError:
        return False
    except OSError:
        return _alive(pid)
    return state not in ([b"Z"], [b"X"])


# ----- the server's side ------------------------------------------------------------------
def preload() -> list[str]:
    """Load the compiled kernels (with numpy, pandas, numba, scipy and the engine, which
    nearly every job needs: 1.2 s) and return the job modules still to import.

    The server listens once these are loaded and imports the rest, one module at a time,
    whenever no request is waiting (:func:`serve`): the figures' matplotlib alone is
    0.3 s that a run's first jobs, and a grading run's only ones, would wait for. A fork
    made before a module is imported imports it itself, as its own process would."""
    from hlmrep.cli import JOBS
    from hlmrep.engine import kernel_cache
    from hlmrep.engine.warmup import warm

    # Loaded, never compiled here: with an empty cache the compile_kernels job compiles
    # them once, and each fork loads them from the cache.
    if kernel_cache.cache_folder().is_dir() or os.environ.get("NUMBA_CACHE_DIR"):
        warm()
    modules = dict.fromkeys(target.partition(":")[0] for target in JOBS.values())
    return [module for module in modules if module not in sys.modules]


def _loaded_files() -> dict[str, tuple[int, int]]:
    """The modification time and size of every package file the server has loaded."""
    stamps = {}
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if name and name.endswith(".py"):
            try:
                status = os.stat(name)
            except OSError:
                continue
            stamps[name] = (status.st_mtime_ns, status.st_size)
    return stamps


def _changed(stamps: dict[str, tuple[int, int]]) -> str | None:
    for name, stamp in stamps.items():
        try:
            status = os.stat(name)
        except OSError:
            return name
        if (status.st_mtime_ns, status.st_size) != stamp:
            return name
    return None


def _receive(connection: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """The request and the three standard streams' descriptors, within REQUEST_SECONDS;
    a request of another shape is a ValueError (its descriptors closed)."""
    deadline = time.monotonic() + REQUEST_SECONDS
    connection.settimeout(REQUEST_SECONDS)
    header, fds, _, _ = socket.recv_fds(connection, 8 + 65536, 3)
    try:
        if len(header) < 8 or len(fds) != 3:
            raise ValueError("not a job request")
        (size,) = struct.unpack("!Q", header[:8])
        if size > MAX_REQUEST_BYTES:
            raise ValueError("request too large")
        body = bytearray(header[8:])
        while len(body) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ValueError("request too slow")
            connection.settimeout(left)
            chunk = connection.recv(min(65536, size - len(body)))
            if not chunk:
                raise ValueError("request cut short")
            body.extend(chunk)
        request = json.loads(bytes(body))
        _check_shape(request)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return request, list(fds)


def _check_shape(request: object) -> None:
    """A request is an object: argv a non-empty list of strings, cwd and executable
    strings, environment an object of strings, path a list of strings."""
    if not isinstance(request, dict):
        raise ValueError("a request is an object")
    argv, environment, path = request.get("argv"), request.get("environment"), request.get("path")
    if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
        raise ValueError("argv: expected a list of strings")
    if not all(isinstance(request.get(key), str) for key in ("cwd", "executable")):
        raise ValueError("cwd and executable: expected strings")
    if not (
        isinstance(environment, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in environment.items())
    ):
        raise ValueError("environment: expected an object of strings")
    if not (isinstance(path, list) and all(isinstance(entry, str) for entry in path)):
        raise ValueError("path: expected a list of strings")


def _refusal(request: dict[str, Any], stamps: dict[str, tuple[int, int]]) -> str | None:
    """Why this server cannot run the job as its own process would (None: it can)."""
    if request["executable"] != os.path.realpath(sys.executable):
        return "another interpreter"
    if request["path"] != sys.path and not _only_folder_differs(request):
        return "another module path"
    ours = _compared_environment(os.environ)
    theirs = _compared_environment(request["environment"])
    if ours != theirs:
        differing = sorted(set(ours) ^ set(theirs) | {k for k in ours if theirs.get(k) != ours[k]})
        return f"environment differs in {differing[:10]}"
    changed = _changed(stamps)
    if changed:
        return f"{changed} changed since the server loaded it"
    return None


def _only_folder_differs(request: dict[str, Any]) -> bool:
    """Whether the module paths differ only in their first entry, each side's working
    folder (``python -m`` puts it there), and nothing this server loaded came through its
    own: then the fork, given the job's folder as that entry, imports what the job's own
    process would."""
    theirs, ours = request["path"], sys.path
    if theirs[1:] != ours[1:] or theirs[:1] != [request["cwd"]] or ours[:1] != [os.getcwd()]:
        return False
    folder = os.path.realpath(os.getcwd())
    for name in {name.partition(".")[0] for name in list(sys.modules)}:
        module = sys.modules.get(name)
        locations = list(getattr(module, "__path__", []) or [])
        where = getattr(module, "__file__", None)
        if where and not locations:
            locations = [where]
        if any(os.path.realpath(os.path.dirname(p)) == folder for p in locations):
            return False
    return True


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the server dies (PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _exit_status(leaving: SystemExit) -> int:
    """What Python's own exit makes of a SystemExit: None 0, an int itself, else the
    message printed and 1."""
    if leaving.code is None:
        return 0
    if isinstance(leaving.code, int):
        return leaving.code
    print(leaving.code, file=sys.stderr)
    return 1


def _run_child(request: dict[str, Any], fds: list[int], server: int) -> None:
    """In the forked child: become the job process, run the job, exit with its status."""
    code = 1
    try:
        _die_with_parent()
        if os.getppid() != server:  # the server died before the line above
            os._exit(1)
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        if sys.path and request["path"]:
            sys.path[0] = request["path"][0]  # the job's folder (:func:`_only_folder_differs`)
        environment = dict(request["environment"])
        environment.pop(SOCKET_VARIABLE, None)
        os.environ.clear()
        os.environ.update(environment)
        tempfile.tempdir = None  # TMPDIR as the job's environment says
        sys.argv = ["hlmrep", *request["argv"]]
        import logging

        from hlmrep.cli import main

        try:
            code = main(list(request["argv"]))
        except SystemExit as leaving:
            code = _exit_status(leaving)
        except KeyboardInterrupt:
            code = 130
        logging.shutdown()
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            code = code or 1
        os._exit(code)


def serve(socket_path: Path, parent: int | None = None, idle_seconds: float | None = None) -> int:
    """Preload, then run every job a connection asks for in a forked child until the
    Snakemake process ``parent`` ends, SIGTERM comes, or (a shell's server) no job has run
    for ``idle_seconds``; the socket's folder is removed at the end when the parent is
    gone or there is none (else the parent's :func:`stop` removes it)."""
    (Path(socket_path).parent / PID_FILE).write_text(f"{os.getpid()}\n")  # see run_remote
    pending = preload()
    stamps = _loaded_files()
    socket_path = Path(socket_path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path.with_name("socket.binding")))
    listener.listen(64)
    # listening before the path exists: a job that finds the socket is served
    os.replace(socket_path.with_name("socket.binding"), socket_path)
    running: dict[socket.socket, int] = {}
    stopping = False

    def stop_serving(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop_serving)
    print(f"job server {os.getpid()} listening on {socket_path}", file=sys.stderr, flush=True)
    last_job = time.monotonic()
    try:
        while not stopping:
            if parent is not None and not _alive(parent):
                break
            if running:
                last_job = time.monotonic()
            elif idle_seconds is not None and time.monotonic() - last_job > idle_seconds:
                print(f"job server: no job for {idle_seconds:g} s, stopping", file=sys.stderr)
                break
            waiting = 0.0 if pending else POLL_SECONDS
            readable, _, _ = select.select([listener, *running], [], [], waiting)
            if pending and not readable:  # nothing asked: import the next job's module
                importlib.import_module(pending.pop(0))
                stamps = _loaded_files()
            for ready in readable:
                if ready is listener:
                    _accept(listener, running, stamps)
                    last_job = time.monotonic()
                else:  # a job process closed its end: it was killed
                    _kill(running.pop(ready))
                    ready.close()
            _reap(running)
    finally:
        for connection, pid in running.items():
            _kill(pid)
            connection.close()
        listener.close()
        socket_path.unlink(missing_ok=True)
        if parent is None or not _alive(parent):
            _remove_folder(socket_path.parent)
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _accept(
    listener: socket.socket, running: dict[socket.socket, int], stamps: dict[str, tuple[int, int]]
) -> None:
    """Read one request and fork its job, or refuse it; whatever the request holds, the
    server goes on."""
    connection, _ = listener.accept()
    fds: list[int] = []
    try:
        request, fds = _receive(connection)
        connection.settimeout(None)
        reason = _refusal(request, stamps)
        if reason is not None:
            print(f"job server: {request['argv'][0]} runs in its own process: {reason}",
                  file=sys.stderr, flush=True)  # fmt: skip
            connection.sendall(b"refused\n")
            connection.close()
            return
        server = os.getpid()
        pid = os.fork()
        if pid == 0:
            listener.close()
            for other in running:
                other.close()
            connection.close()
            os.setpgid(0, 0)
            _run_child(request, fds, server)
        with contextlib.suppress(OSError):  # the child may have done it already
            os.setpgid(pid, pid)
        running[connection] = pid
        print(f"job server: started {request['argv'][0]} ({pid})", file=sys.stderr, flush=True)
        try:
            connection.sendall(b"started\n")
        except OSError:
            _kill(running.pop(connection))
            connection.close()
    except Exception as error:
        print(f"job server: a request failed: {error}", file=sys.stderr, flush=True)
        connection.close()
    finally:
        for fd in fds:
            os.close(fd)


def _reap(running: dict[socket.socket, int]) -> None:
    """Tell each job process whose child ended its exit status."""
    for connection, pid in list(running.items()):
        try:
            done, status, usage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            done, status, usage = pid, 1 << 8, None
        if done == 0:
            continue
        code = os.waitstatus_to_exitcode(status)
        code = code if code >= 0 else 128 - code
        peak, cpu = (usage.ru_maxrss, usage.ru_utime + usage.ru_stime) if usage else (0, 0.0)
        with contextlib.suppress(OSError):
            connection.sendall(f"exit {code} {peak} {cpu:.3f}\n".encode())
        connection.close()
        del running[connection]


def _kill(pid: int) -> None:
    """End a job's child and everything it started (its process group), and reap it."""
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


# ----- the workflow's side ------------------------------------------------------------------
#: The servers this process started, by socket path (the Snakemake process's own).
_STARTED: dict[str, Any] = {}


def start(src: str, python: str = sys.executable) -> dict[str, str]:
    """Start a server for this Snakemake process's run; the environment its jobs need to
    find it (nothing when ``HLMREP_NO_JOB_SERVER`` is set: every job in its own process).
    A job that starts before it listens waits for it (:func:`_started`)."""
    if os.environ.get(OFF_VARIABLE):
        return {}
    environment = dict(os.environ)
    # What Snakemake sets for a job of one thread (snakemake.shell), as every rule's jobs are
    environment.update(dict.fromkeys(SNAKEMAKE_THREAD_VARIABLES, "1"))
    environment["PYTHONPATH"] = src + (
        os.pathsep + environment["PYTHONPATH"] if environment.get("PYTHONPATH") else ""
    )
    socket_path, server = _spawn(python, ["--parent", str(os.getpid())], environment)
    _STARTED[str(socket_path)] = server
    import atexit

    atexit.register(stop, {SOCKET_VARIABLE: str(socket_path)})  # if no hook runs
    return {SOCKET_VARIABLE: str(socket_path)}


def stop(environment: dict[str, str] | os._Environ[str]) -> None:
    """Stop the server this process started for a run, remove its folder, and take its
    variable out of ``environment`` (this process's, from the hooks)."""
    path = environment.pop(SOCKET_VARIABLE, None)
    server = _STARTED.pop(path, None) if path else None
    if server is None:
        return
    server.terminate()
    try:
        server.wait(timeout=10)
    except Exception:
        server.kill()
        server.wait()
    _remove_folder(Path(str(path)).parent)


def _spawn(
    python: str, arguments: list[str], environment: dict[str, str]
) -> tuple[Path, subprocess.Popen[bytes]]:
    """A server process in a new folder only this user can open (``mkdtemp``, mode 0700),
    in its own session, logging to the folder; its socket's path and its process. Its
    process is named in the folder at once: a job that starts before the server listens
    waits for it (:func:`_started`)."""
    import subprocess  # here: a job process imports this module and needs none of it

    folder = Path(tempfile.mkdtemp(prefix="hlmrep-jobs-"))
    socket_path = folder / "socket"
    with open(folder / "server.log", "wb") as log:
        server = subprocess.Popen(
            [python, "-m", "hlmrep", "job-server", "--socket", str(socket_path), *arguments],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=environment,
            start_new_session=True,
        )  # fmt: skip
    (folder / PID_FILE).write_text(f"{server.pid}\n")
    return socket_path, server


def _remove_folder(folder: Path) -> None:
    for item in folder.glob("*"):
        item.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


# ----- a shell's side ------------------------------------------------------------------------
def start_for_shell(idle_seconds: float, python: str = sys.executable) -> Path:
    """Start a server for the commands of the calling shell (``fit``, ``grade``,
    ``read``...) and wait until it listens; its socket's path.

    It gets this process's environment as it is, so it serves the commands run later with
    the same interpreter, module path and environment (in any working folder); any other
    runs in its own process as before. It stops after ``idle_seconds`` without a job, or
    at :func:`stop_for_shell`.
    """
    environment = {k: v for k, v in os.environ.items() if k != SOCKET_VARIABLE}
    socket_path, server = _spawn(python, ["--idle-seconds", repr(float(idle_seconds))], environment)
    folder = socket_path.parent
    deadline = time.monotonic() + 120.0
    while not socket_path.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            server.wait()
            log_text = (folder / "server.log").read_text(errors="replace")[-2000:]
            _remove_folder(folder)
            raise RuntimeError(f"the job server did not start:\n{log_text}")
        time.sleep(0.05)
    # It runs on after this process (its own session): not a child to wait for, so Python
    # must not warn that it is still running.
    server.returncode = 0
    return socket_path


def stop_for_shell(socket_path: Path, seconds: float = 10.0) -> bool:
    """Stop the shell's server listening at ``socket_path`` (whether it was running)."""
    try:
        pid = int((Path(socket_path).parent / PID_FILE).read_text())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return False
    deadline = time.monotonic() + seconds
    while _alive(pid) and Path(socket_path).parent.exists():
        if time.monotonic() > deadline:
            _kill(pid)
            break
        time.sleep(0.05)
    return True
