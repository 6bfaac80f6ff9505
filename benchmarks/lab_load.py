"""The chip server under load and faults: K clients x M requests against one server process on 127.0.0.1.

Each client takes the chip's lease, sends a burst of set_params (each with a unique
value) and queries, and gives the lease back. Meanwhile a monitor calls ``info``, a
hostile client sends junk (deep JSON, huge integers and shapes, wrong tokens,
oversized queries), the server drops or delays some replies and drops some
requests, and the server process is killed (SIGKILL) and restarted once. The
server appends every set_params it applies to a file, so the benchmark can count
what was applied exactly once, twice, or lost.

    python benchmarks/lab_load.py            # 4 clients x 240 requests, ~1 min on 2 cores
    python benchmarks/lab_load.py --quick    # 3 clients x 60 requests
Loopback only; bounded by --max-seconds.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import random
import signal
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

SCALE = 1e-4  # set_params value = request number x SCALE (below 2 pi, so it is not wrapped)
BURST = 10  # requests per lease


def _serve(conn, port: int, applied_path: str, log_path: str, seed: int) -> None:
    """Server process: a small chip that records every applied set_params, with a fault injector."""
    from ffzero_photonics.blackbox import ForwardingBlackBox
    from ffzero_photonics.lab.server import ChipServer
    from ffzero_photonics.photonic.chip import PhotonicChip

    class Recording(ForwardingBlackBox):
        def __init__(self, inner, path):
            super().__init__(inner)
            self.file = open(path, "a", buffering=1)

        def set_params(self, layer, params):
            self.inner.set_params(layer, params)
            self.file.write(f"{round(float(params[0]) / SCALE)}\n")

    rng = random.Random(seed)
    seen: set[str] = set()

    def faults(header):
        if header.get("method") not in ("set_params", "query") or header["id"] in seen:
            return None
        seen.add(header["id"])
        r = rng.random()
        return "drop_reply" if r < 0.03 else "drop_request" if r < 0.05 else 0.3 if r < 0.06 else None

    chip = Recording(PhotonicChip(64, image_shape=(8, 8), ports=16, layers=1, seed=0), applied_path)
    server = ChipServer(chip, port=port, fault_hook=faults, log_path=log_path, lease_ttl_s=5.0)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    conn.send(server.url)
    server.serve_forever()


def peak_memory_mb(pid: int) -> float | None:
    """Peak resident memory (VmHWM) of a live process, from /proc (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class ServerProcess:
    def __init__(self, tmp: Path):
        self.tmp, self.ctx, self.port, self.proc, self.peaks, self.incarnation = tmp, multiprocessing.get_context("spawn"), 0, None, [], 0

    def start(self) -> str:
        parent, child = self.ctx.Pipe()
        self.incarnation += 1
        self.proc = self.ctx.Process(target=_serve, args=(child, self.port, str(self.tmp / "applied.txt"),
                                                           str(self.tmp / "refusals.jsonl"), self.incarnation), daemon=True)
        self.proc.start()
        url = parent.recv()
        self.port = int(url.rsplit(":", 1)[1])
        return url

    def kill(self) -> None:
        self.peaks.append(peak_memory_mb(self.proc.pid))
        self.proc.kill()
        self.proc.join(5)

    def stop(self) -> None:
        self.peaks.append(peak_memory_mb(self.proc.pid))
        self.proc.terminate()
        self.proc.join(10)


class Tally:
    """What the clients saw, shared by their threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latency = collections.defaultdict(list)
        self.count = collections.Counter()
        self.acked: set[int] = set()
        self.sent: set[int] = set()

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.count[key] += n


def trainer(k: int, url: str, m: int, deadline: float, tally: Tally) -> None:
    from ffzero_photonics.lab.client import ChipConnectionError, ChipLeaseError, RemoteChip

    def connect():
        while time.monotonic() < deadline:
            try:
                return RemoteChip(url, timeout_s=10.0, attempt_timeout_s=0.25, retries=40, backoff_s=0.01)
            except ChipConnectionError:
                tally.add("reconnect failures")
        return None

    chip = connect()
    rng = np.random.default_rng(k)
    x = rng.random((16, 64))
    i = 0
    while chip is not None and i < m and time.monotonic() < deadline:
        try:
            chip.acquire()
        except ChipLeaseError:
            tally.add("lease waits")
            time.sleep(0.01)
            continue
        except ChipConnectionError:  # the server restarted (ChipStateLost) or is down: a new connection
            tally.add("restarts seen")
            chip = connect()
            continue
        try:
            for _ in range(BURST):
                if i >= m:
                    break
                t0 = time.perf_counter()
                if i % 2 == 0:
                    rid = k * 10000 + i
                    with tally.lock:
                        tally.sent.add(rid)
                    chip.set_params(0, np.full(chip.layer_info(0).n_params, rid * SCALE))
                    with tally.lock:
                        tally.acked.add(rid)
                    kind = "set_params"
                else:
                    chip.query(x, 0, {0: rng.random((8, chip.layer_info(0).n_params))})
                    kind = "query"
                with tally.lock:
                    tally.latency[kind].append(time.perf_counter() - t0)
                    tally.count[f"{kind} answered"] += 1
                i += 1
            chip.release()
        except ChipConnectionError:
            tally.add("restarts seen")
            i += 1  # the request in flight is given up, as a run would resume from its checkpoint
            chip = connect()
    if chip is not None:
        chip.close()


def monitor(url: str, stop: threading.Event, tally: Tally) -> None:
    from ffzero_photonics.lab.client import ChipConnectionError, RemoteChip

    chip = None
    while not stop.is_set():
        try:
            chip = chip or RemoteChip(url, timeout_s=5.0, attempt_timeout_s=0.5)
            t0 = time.perf_counter()
            chip.server_info()
            with tally.lock:
                tally.latency["info (monitor)"].append(time.perf_counter() - t0)
        except ChipConnectionError:
            chip = None
        stop.wait(0.02)


def hostile(url: str, stop: threading.Event, tally: Tally, n_params: int) -> None:
    import zmq

    from ffzero_photonics.lab.protocol import auth_frame

    x = np.ones((2500, 64)).tobytes()
    junk = [
        [auth_frame(None), b"[" * 1000 + b"]" * 1000],
        [auth_frame(None), b'{"v": 2, "id": "h-1", "method": "info", "args": {"n": ' + b"9" * 5000 + b"}}"],
        [auth_frame(None), json.dumps({"v": 2, "id": "h-2", "method": "query", "args": {"layer": 0},
                                       "arrays": [{"name": "x", "dtype": "<f8", "shape": [2**32, 2**32]}]}).encode(), b""],
        [auth_frame("wrong"), b"{}"],
        [b"garbage"],
        [auth_frame(None), json.dumps({"v": 2, "id": "h-3", "method": "query", "args": {"layer": 0}, "arrays": [
            {"name": "x", "dtype": "<f8", "shape": [2500, 64]},
            {"name": "settings.0", "dtype": "<f8", "shape": [400, n_params]}]}).encode(), x, bytes(400 * n_params * 8)],
    ]
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(url)
    n = 0
    while not stop.is_set():
        sock.send_multipart(junk[n % len(junk)])
        tally.add("hostile sent")
        if sock.poll(500):
            sock.recv_multipart()
            tally.add("hostile answered")
        n += 1
        stop.wait(0.005)
    sock.close()


def percentile_ms(values: list[float], q: float) -> float:
    return 1e3 * float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=240, help="requests per client (half set_params, half queries)")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="3 clients x 60 requests")
    args = parser.parse_args()
    k, m = (3, 60) if args.quick else (args.clients, args.requests)
    if not (1 <= k <= 6 and 1 <= m <= 9999):
        parser.error("need 1..6 clients and 1..9999 requests per client")
    tally = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp))
        url = server.start()
        deadline = time.monotonic() + args.max_seconds
        stop = threading.Event()
        t0 = time.perf_counter()
        from ffzero_photonics.photonic.chip import PhotonicChip

        n_params = PhotonicChip(64, image_shape=(8, 8), ports=16, layers=1, seed=0).layer_info(0).n_params
        helpers = [threading.Thread(target=monitor, args=(url, stop, tally), daemon=True),
                   threading.Thread(target=hostile, args=(url, stop, tally, n_params), daemon=True)]
        clients = [threading.Thread(target=trainer, args=(i, url, m, deadline, tally)) for i in range(k)]
        for t in helpers + clients:
            t.start()
        while sum(tally.count[f"{kind} answered"] for kind in ("set_params", "query")) < k * m * 0.4 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()  # fault: the server dies mid-run and comes back on the same port
        time.sleep(0.5)
        server.start()
        for t in clients:
            t.join(max(1.0, deadline - time.monotonic()))
        stop.set()
        for t in helpers:
            t.join(5)
        wall = time.perf_counter() - t0
        server.stop()
        applied = collections.Counter(int(line) for line in (Path(tmp) / "applied.txt").read_text().split())
        refusals = sum(1 for _ in open(Path(tmp) / "refusals.jsonl")) if (Path(tmp) / "refusals.jsonl").exists() else 0
    sent, acked = tally.sent, tally.acked
    once = sum(1 for rid in sent if applied[rid] == 1)
    twice = sum(1 for rid in sent if applied[rid] > 1)
    lost = sum(1 for rid in sent if applied[rid] == 0)
    unacked_applied = sum(1 for rid in sent - acked if applied[rid] == 1)
    print(f"# lab_load: {k} clients x {m} requests, one server process on 127.0.0.1 ({os.cpu_count()} cores), "
          f"{wall:.1f} s\n")
    print("| requests | p50 ms | p99 ms | n |\n|---|---|---|---|")
    for kind in ("set_params", "query", "info (monitor)"):
        v = tally.latency[kind]
        print(f"| {kind} | {percentile_ms(v, 50):.2f} | {percentile_ms(v, 99):.2f} | {len(v)} |")
    print(f"\nserver peak memory (VmHWM) per incarnation: {', '.join(f'{p:.0f} MB' for p in server.peaks if p)}")
    print(f"set_params sent {len(sent)}: acknowledged {len(acked)}, applied exactly once {once}, applied twice {twice}, "
          f"lost (never applied) {lost}, applied without an acknowledgement {unacked_applied}")
    print(f"queries answered {tally.count['query answered']}; restarts seen by clients {tally.count['restarts seen']}; "
          f"lease waits {tally.count['lease waits']}")
    print(f"hostile requests sent {tally.count['hostile sent']}, answered with an error {tally.count['hostile answered']}; "
          f"refusal log lines {refusals}")


if __name__ == "__main__":
    main()
