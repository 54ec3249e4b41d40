"""A sweep here against the same sweep through a local Dask cluster: the cost of going through Dask.

Times `digitlib sweep` of a sweep file (default: the smoke sweep, two tiny runs) locally with
`--jobs 2`, then through a scheduler and two one-thread workers on 127.0.0.1, whose runs come back
as archives (DIGITLIB_COPY_BACK=1, as without a shared folder) and then written straight into the
shared folder. Each sweep gets a fresh reports folder; the cluster is started before the clock runs.
The overhead per run is the difference of the medians divided by the sweep's runs. On a busy machine
that difference drowns in noise, so the parts the cluster adds are also timed on their own: connecting
to the scheduler, and packing a run, checking and unpacking it, and rebuilding the index.

    python bench/cluster.py [--repeats 2] [--sweep sweeps/smoke.yaml] [--modes local sent-back shared]

`--modes sent-back shared` compares the two ways a run reaches the client, without the local sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import median, write_result
from digitlib.run.cluster import connect, pack_run, receive_run
from digitlib.run.runner import update_index
from digitlib.run.sweep import load_sweep
from digitlib.rundir import identity_of, read_run

REPOSITORY = Path(__file__).resolve().parent.parent
# Each mode: its row's name, and DIGITLIB_COPY_BACK on the workers (None: no cluster, a local sweep).
MODES = {"local": ("local, --jobs 2", None), "sent-back": ("cluster, runs sent back", True),
         "shared": ("cluster, shared folder", False)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(arguments: list[str], log: Path, environment: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dask", *arguments], stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, env=environment, start_new_session=True)


def stop(processes: list[subprocess.Popen]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def local_cluster(folder: Path, copy_back: bool) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and two one-thread workers (with nannies, as usually run), ready."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "DIGITLIB_COPY_BACK": "1" if copy_back else "0"}
    processes = [start(["scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                        "--dashboard-address", f"127.0.0.1:{free_port()}"], folder / "scheduler.log", environment)]
    processes += [start(["worker", address, "--nworkers", "1", "--nthreads", "1", "--local-directory",
                         str(folder / name)], folder / f"{name}.log", environment) for name in ("worker-1", "worker-2")]
    with Client(address, timeout="60s", set_as_default=False) as client:
        client.wait_for_workers(2, timeout=120)
    return address, processes


def sending_back(run_dir: Path) -> dict:
    """The time to pack `run_dir` on a worker, and to check, unpack and index it on the client."""
    started = time.perf_counter()
    archive = pack_run(run_dir)
    packed = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        received, _ = receive_run(Path(folder), run_dir.name, archive, identity_of(read_run(run_dir)))
        update_index(Path(folder), received)
    return {"pack_seconds": packed - started, "receive_seconds": time.perf_counter() - packed,
            "bytes": len(archive)}


def timed_sweep(sweep_file: Path, *options: str) -> dict:
    """The sweep's wall time, each training run's own (from its run.json: the runner's clock), and the time
    to send its runs back."""
    with tempfile.TemporaryDirectory() as folder:
        reports = Path(folder) / "reports"
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "digitlib", "sweep", str(sweep_file), "--json",
                                 "--reports-dir", str(reports), *options], capture_output=True, text=True)
        seconds = time.perf_counter() - started
        outcome = json.loads(result.stdout)  # exit status 1 when a run failed, as the smoke sweep's second does
        run_seconds = [json.loads((reports / run["run_id"] / "run.json").read_text())["wall_seconds"]
                       for run in outcome["runs"]]
        sent = [sending_back(reports / run["run_id"]) for run in outcome["runs"]]
    print(f"  {' '.join(options)}: {seconds:.1f} s; runs " + ", ".join(
        f"{run['status']} in {wall:.1f} s" for run, wall in zip(outcome["runs"], run_seconds)), flush=True)
    return {"seconds": seconds, "run_seconds": run_seconds, "statuses": [run["status"] for run in outcome["runs"]],
            "sending_back": sent}


def connecting(address: str) -> float:
    """The time the sweep takes to reach the scheduler (Dask imported already)."""
    started = time.perf_counter()
    connect(address).close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sweep", type=Path, default=REPOSITORY / "sweeps" / "smoke.yaml")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES),
                        help="which sweeps to time (default: all three)")
    arguments = parser.parse_args()
    runs = len(load_sweep(arguments.sweep).parameter_sets)
    modes = dict(MODES[name] for name in MODES if name in arguments.modes)
    timings: dict[str, list[dict]] = {mode: [] for mode in modes}
    for _ in range(arguments.repeats):  # interleaved, so that a change in the machine's load hits every mode
        for mode, copy_back in modes.items():
            if copy_back is None:
                timings[mode].append(timed_sweep(arguments.sweep, "--jobs", "2"))
                continue
            with tempfile.TemporaryDirectory() as folder:
                address, processes = local_cluster(Path(folder), copy_back)
                try:
                    timings[mode].append({**timed_sweep(arguments.sweep, "--scheduler", address),
                                          "connect_seconds": connecting(address)})
                finally:
                    stop(processes)
    local = median([t["seconds"] for t in timings["local, --jobs 2"]]) if "local, --jobs 2" in timings else None
    rows = []
    for mode, measured in timings.items():
        seconds = median([t["seconds"] for t in measured])
        inside = median([wall for t in measured for wall in t["run_seconds"]])
        overhead = "—" if modes[mode] is None or local is None else f"{(seconds - local) / runs:+.1f}"
        rows.append([mode, f"{seconds:.1f}", f"{inside:.1f}", overhead])
    # Packing and unpacking a finished run, timed here after each sweep: the same work whichever way it arrived.
    sent_back = timings.get("cluster, runs sent back") or [t for measured in timings.values() for t in measured]
    sent = [one for t in sent_back for one in t["sending_back"]]
    pack, receive = median([s["pack_seconds"] for s in sent]), median([s["receive_seconds"] for s in sent])
    connected = median([t["connect_seconds"] for mode in modes if modes[mode] is not None for t in timings[mode]])
    write_result(
        "cluster", f"Sweep {arguments.sweep.name} ({runs} runs) here and through a local 2-worker Dask cluster, "
                   f"medians of {arguments.repeats}, seconds",
        ["where", "sweep wall time", "a run, by its own clock", "overhead per run"], rows,
        {"sweep": arguments.sweep.name, "runs": runs, "timings": timings},
        notes="Wall time of `digitlib sweep` (its comparison report included) with a fresh reports folder, the "
              "modes interleaved; the cluster (a scheduler and two workers with one thread each, with nannies, on "
              "the same machine) is started before the clock runs. A run's own clock is run.json's wall_seconds.\n\n"
              f"What the cluster adds, timed on its own (medians): connecting to the scheduler {connected:.2f} s a "
              f"sweep; sending a run back {pack + receive:.2f} s a run (packing {pack:.2f} s on the worker; "
              f"checking, unpacking and indexing {receive:.2f} s on the client; "
              f"{median([s['bytes'] for s in sent]) / 1e6:.1f} MB).",
    )


if __name__ == "__main__":
    main()
