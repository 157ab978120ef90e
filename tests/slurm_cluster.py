"""A real one-node SLURM cluster on localhost, for tests: munged, slurmctld and slurmd.

Debian's ``slurm-wlm`` and ``munge`` (``.ci/run`` installs them). Client commands and the
executor plugin's job steps read the configuration from its default place,
``/etc/slurm/slurm.conf`` (the plugin's job step drops ``SLURM_CONF`` from the environment
of its ``srun``), so the cluster writes that file, marked as its own, and removes it after;
it refuses to touch a configuration it did not write. Everything else (munge key and socket,
state, spool, logs) lives in a temporary folder. Needs root (the daemons run as root).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# hlmrep test cluster: written by tests/slurm_cluster.py, removed after the tests"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")
PORTS = (6817, 6818)


def unavailable_reason() -> str | None:
    """Why this machine cannot run the test cluster (None: it can)."""
    missing = [name for name in DAEMONS if shutil.which(name) is None]
    if missing:
        return f"not installed: {', '.join(missing)} (Debian: slurm-wlm munge)"
    if os.geteuid() != 0:
        return "the test cluster's daemons need root"
    if CONF.exists() and MARKER not in CONF.read_text():
        return f"{CONF} exists and is not the test cluster's; refusing to replace it"
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return f"port {port} is in use (a SLURM daemon already running?)"
    return None


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(int(line.split()[1]) / 1024 * 0.8)
    return 4000


def _config(root: Path, node: str) -> str:
    return f"""{MARKER}
ClusterName=hlmreptest
SlurmctldHost={node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge/munge.sock
CredType=cred/munge
SlurmctldPort={PORTS[0]}
SlurmdPort={PORTS[1]}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# Finished jobs stay visible to squeue for an hour: with no accounting database (no
# sacct), that is how the executor plugin learns how a job ended.
MinJobAge=3600
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName={node} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={_memory_mb()} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def _kill_from_pid_file(path: Path) -> None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(40):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.25)
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@contextmanager
def slurm_cluster(root: Path) -> Iterator[str]:
    """Start munged, slurmctld and slurmd; yield the node name; stop them and clean up."""
    node = socket.gethostname().split(".")[0]
    for sub in ("munge", "state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "munge").chmod(0o700)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    CONF.parent.mkdir(parents=True, exist_ok=True)
    CONF.write_text(_config(root, node))
    try:
        munge = root / "munge"
        subprocess.run(
            [
                "munged",
                "--force",
                f"--socket={munge}/munge.sock",
                f"--key-file={key}",
                f"--log-file={munge}/munged.log",
                f"--pid-file={munge}/munged.pid",
                f"--seed-file={munge}/munged.seed",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(["slurmctld", "-i"], check=True, capture_output=True)
        subprocess.run(["slurmd"], check=True, capture_output=True)
        _wait(
            lambda: (
                subprocess.run(
                    ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True
                ).stdout.strip()
                == "idle"
            ),
            60,
            f"node {node} to become idle (logs: {root}/log)",
        )
        yield node
    finally:
        subprocess.run(["scancel", "--full", "--quiet", "--user", "root"], capture_output=True)
        _kill_from_pid_file(root / "slurmd.pid")
        _kill_from_pid_file(root / "slurmctld.pid")
        _kill_from_pid_file(root / "munge" / "munged.pid")
        if CONF.exists() and MARKER in CONF.read_text():
            CONF.unlink()


def job_states() -> dict[str, tuple[str, str]]:
    """Every job the controller remembers: id -> (state, node list)."""
    done = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T|%N"],
        capture_output=True,
        text=True,
        check=True,
    )
    out = {}
    for line in done.stdout.splitlines():
        job, state, nodes = line.strip().split("|")
        out[job] = (state, nodes)
    return out
