"""Chip in the loop: instruments, the ZeroMQ chip server and its client, faults, restarts, safety."""

import collections
import json
import subprocess
import sys
import threading

import numpy as np
import pytest
import zmq

import ffzero_photonics.runs.run as run
from ffzero_photonics.runs.checkpoint import load_checkpoint
from ffzero_photonics.data import load_dataset
from ffzero_photonics.lab import InstrumentChip, SimulatedInstrument, Timing, UnsafeDriveError
from ffzero_photonics.lab.client import ChipAuthError, ChipConnectionError, ChipStateLost, RemoteChip
from ffzero_photonics.photonic.chip_config import ChipConfig, build_chip
from ffzero_photonics.lab.protocol import auth_frame, decode, encode_request
from ffzero_photonics.lab.server import ChipServer
from ffzero_photonics.photonic.chip import PhotonicChip
from ffzero_photonics.trainer import Trainer, TrainConfig

TRAIN = dict(epochs=2, batch_size=64, seed=0)


@pytest.fixture(autouse=True)
def in_tmp_dir(tmp_path, monkeypatch):
    """Servers write their refusal log in the working directory: keep it out of the repository."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def digits_raw():
    return load_dataset("digits", seed=0, standardize=False)


def small_chip(**kw):
    return PhotonicChip(64, image_shape=(8, 8), ports=16, layers=1, seed=0, **kw)


@pytest.fixture(scope="module")
def reference(digits_raw):
    """In-process training: final phases, history and query counts."""
    chip = small_chip()
    tr = Trainer(**TRAIN)
    tr.fit(chip, digits_raw)
    return {"params": chip.get_params(0), "history": tr.history, "counter": chip.counter.snapshot()}


def strip_time(history):
    return [{k: v for k, v in row.items() if k != "wall_time_s"} for row in history]


def raw_request(url, frames, timeout_s=5.0):
    """Send hand-made frames on a DEALER socket and decode the reply (for malformed-request tests)."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(url)
    try:
        sock.send_multipart(frames)
        assert sock.poll(int(timeout_s * 1000)), "no reply"
        return decode(sock.recv_multipart())
    finally:
        sock.close()


def request(method, rid, args=None, arrays=None, token=None):
    return encode_request(token, {"id": rid, "method": method, "args": args or {}}, arrays)


# ---------- equivalence and counting ----------
def test_remote_training_equals_in_process_training(digits_raw, reference):
    with ChipServer(small_chip()) as server:
        remote = RemoteChip(server.url)
        tr = Trainer(**TRAIN)
        tr.fit(remote, digits_raw)
        assert np.array_equal(remote.get_params(0), reference["params"])
        assert strip_time(tr.history) == strip_time(reference["history"])
        counts = remote.server_counter()
        client = remote.counter.snapshot()
        assert client == reference["counter"]
        assert {k: counts[k] for k in client} == client
        assert counts["replayed"] == 0 and counts["errors"] == 0
        remote.close()


def test_instrument_chip_matches_the_simulator_and_models_lab_time(digits_raw):
    ref = small_chip()
    timing = Timing(latency_s=10.0, settle_s=0.5, integrate_s=0.01)  # huge, but only accounted, not slept
    chip = InstrumentChip(SimulatedInstrument(small_chip(), timing=timing))
    np.testing.assert_allclose(chip.get_params(0), ref.get_params(0), atol=1e-12)
    x = digits_raw.X_train[:7]
    rng = np.random.default_rng(1)
    cand = {0: ref.get_params(0) + rng.normal(0, 3, (5, ref.layer_info(0).n_params))}  # outside [0, 2 pi)
    np.testing.assert_allclose(chip.query(x, 0, cand), ref.query(x, 0, cand), atol=1e-12)
    np.testing.assert_allclose(chip.query(x, 0), ref.query(x, 0), atol=1e-12)
    assert chip.lab_time_s == pytest.approx(2 * 10.0 + 6 * 0.5 + (5 * 7 + 7) * 0.01)
    assert chip.run_metrics() == {"lab_time_s": chip.lab_time_s}
    tr_a, tr_b = Trainer(epochs=1, batch_size=64), Trainer(epochs=1, batch_size=64)
    tr_a.fit(ref, digits_raw)
    tr_b.fit(chip, digits_raw)
    np.testing.assert_allclose(chip.get_params(0), ref.get_params(0), atol=1e-9)


# ---------- at-most-once and faults ----------
def test_a_retried_request_is_applied_once():
    chip = small_chip()
    with ChipServer(chip) as server:
        x = np.random.default_rng(0).random((3, 64))
        q = request("query", "clientA-1", {"layer": 0}, {"x": x})
        first, a = raw_request(server.url, q)
        again, b = raw_request(server.url, q)  # same id, new connection: a retry
        assert first["ok"] and again["ok"] and np.array_equal(a["y"], b["y"])
        new_params = np.zeros(chip.layer_info(0).n_params)
        s = request("set_params", "clientA-2", {"layer": 0}, {"params": new_params})
        raw_request(server.url, s)
        raw_request(server.url, request("set_params", "clientA-3", {"layer": 0}, {"params": new_params + 1.0}))
        raw_request(server.url, s)  # a late duplicate of the older request must not undo the newer one
        np.testing.assert_allclose(chip.get_params(0), 1.0)
        counts, _ = raw_request(server.url, request("counter", "clientA-4"))
        assert counts["result"]["calls"] == 1 and counts["result"]["replayed"] == 2
        assert chip.counter.calls == 1


def test_reply_cache_is_bounded_lru():
    chip = small_chip()
    with ChipServer(chip, cache_entries=2) as server:
        x = np.ones((1, 64))
        frames = [request("query", f"lru-{i}", {"layer": 0}, {"x": x}) for i in range(3)]
        for f in frames + [frames[2], frames[0]]:  # lru-2 still cached; lru-0 was evicted
            raw_request(server.url, f)
        counts = server.counts()  # lru-0 was computed again but, being a retry, not counted again
        assert (counts["calls"], counts["replayed"], counts["recomputed"]) == (3, 1, 1)


def test_one_request_per_setting_mode_gives_the_same_readings():
    with ChipServer(small_chip()) as server:
        batched, split = RemoteChip(server.url), RemoteChip(server.url, split_settings=True)
        x = np.random.default_rng(0).random((4, 64))
        cand = {0: np.random.default_rng(1).random((5, batched.layer_info(0).n_params)) * 6}
        y_batched = batched.query(x, 0, cand)
        batched.close()  # gives the lease back, so the second client may drive the chip
        assert np.array_equal(y_batched, split.query(x, 0, cand))
        assert (batched.counter.calls, split.counter.calls) == (1, 5)
        assert split.counter.settings == batched.counter.settings == 5
        split.close()


class Faults:
    """Drop replies, drop requests and delay replies past the client's timeout, on first attempts only."""

    def __init__(self):
        self.seen = collections.Counter()
        self.n = 0
        self.injected = collections.Counter()

    def __call__(self, header):
        self.seen[header["id"]] += 1
        if self.seen[header["id"]] > 1:
            return None
        self.n += 1
        for every, action in ((23, "drop_reply"), (29, "drop_request"), (37, 0.3)):
            if self.n % every == 0:
                self.injected[str(action)] += 1
                return action
        return None


def test_training_through_dropped_and_delayed_replies_equals_in_process(digits_raw, reference):
    faults = Faults()
    with ChipServer(small_chip(), fault_hook=faults) as server:
        remote = RemoteChip(server.url, timeout_s=10.0, attempt_timeout_s=0.15, retries=6, backoff_s=0.01)
        tr = Trainer(**TRAIN)
        tr.fit(remote, digits_raw)
        assert np.array_equal(remote.get_params(0), reference["params"])
        counts = remote.server_counter()
        assert min(faults.injected.values()) >= 1 and len(faults.injected) == 3, faults.injected
        assert counts["replayed"] >= faults.injected["drop_reply"]
        assert remote.attempts > faults.n  # the client retried
        assert {k: counts[k] for k in remote.counter.snapshot()} == remote.counter.snapshot() == reference["counter"]
        remote.close()


def remote_builder(monkeypatch, **client_options):
    """Emulate the lead's registry wiring: a ``chip`` model option builds a RemoteChip."""
    original = run.build_model

    def build(kind, data, *, seed=0, **options):
        if "chip" in options:
            return RemoteChip(options["chip"], **client_options)
        return original(kind, data, seed=seed, **options)

    monkeypatch.setattr(run, "build_model", build)


def test_server_restart_mid_run_then_rerun_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch, reference):
    remote_builder(monkeypatch, timeout_s=10.0, attempt_timeout_s=0.2, retries=8, backoff_s=0.05)
    queries = collections.Counter()
    servers = {}

    def crash_in_epoch_two(header):
        if header["method"] == "query":
            queries["n"] += 1
            if queries["n"] == 27:  # epoch 1 = 18 steps + 2 evaluation queries
                threading.Timer(0.3, lambda: servers.update(b=ChipServer(small_chip(), port=port).start())).start()
                return "crash"
        return None

    servers["a"] = ChipServer(small_chip(), fault_hook=crash_in_epoch_two).start()
    port = servers["a"].port
    spec = run.RunSpec(model="photonic", model_options={"chip": servers["a"].url}, dataset="digits",
                       train=TrainConfig(**TRAIN))
    out = tmp_path / "remote-run"
    try:
        with pytest.raises(ChipStateLost, match="restarted"):
            run.train_run(spec, out, progress=False, log=lambda m: None)
        assert (out / run.CHECKPOINT).exists()
        meta, _ = load_checkpoint(out / run.CHECKPOINT)
        assert meta["trainer"]["position"] == [0, 1]  # epoch 1 was checkpointed
        logs = []
        metrics = run.train_run(spec, out, progress=False, log=logs.append)
        assert logs and "resuming" in logs[0]
        _, arrays = load_checkpoint(out / run.CHECKPOINT)
        assert np.array_equal(arrays["param_0"], reference["params"])
        assert metrics["model_config"] == {"url": servers["a"].url, "fingerprint": servers["a"].fingerprint}
        assert "server_counter" in metrics
    finally:
        for s in servers.values():
            s.close()


def test_client_gives_up_with_a_clear_error_when_the_server_is_gone():
    server = ChipServer(small_chip()).start()
    remote = RemoteChip(server.url, timeout_s=1.0, retries=2, backoff_s=0.01)
    server.close()
    with pytest.raises(ChipConnectionError, match=r"no reply .* after 3 attempts"):
        remote.get_params(0)
    remote.close()


# ---------- bad requests ----------
def test_malformed_oversized_and_out_of_range_requests_get_error_replies():
    chip = small_chip()
    with ChipServer(chip, max_request_bytes=64 * 1024) as server:
        n = chip.layer_info(0).n_params
        x = np.ones((2, 64))
        nan_x = x.copy()
        nan_x[0, 0] = np.nan
        header = json.loads(request("query", "r-0", {"layer": 0}, {"x": x})[1])
        header["arrays"][0]["dtype"] = "|O"
        cases = {
            "not json": [auth_frame(None), b"\xff{not json"],
            "missing frame": request("query", "r-1", {"layer": 0}, {"x": x})[:2],
            "bad dtype": [auth_frame(None), json.dumps(header).encode(), x.tobytes()],
            "oversized": request("query", "r-2", {"layer": 0}, {"x": np.ones((200, 64))}),
            "bad layer": request("query", "r-3", {"layer": 5}, {"x": x}),
            "bool layer": request("get_params", "r-4", {"layer": True}),
            "wrong x shape": request("query", "r-5", {"layer": 0}, {"x": np.ones((2, 63))}),
            "NaN input": request("query", "r-6", {"layer": 0}, {"x": nan_x}),
            "wrong settings shape": request("query", "r-7", {"layer": 0}, {"x": x, "settings.0": np.ones((2, n + 1))}),
            "settings for a later layer": request("query", "r-8", {"layer": 0}, {"x": x, "settings.1": np.ones((2, n))}),
            "wrong params shape": request("set_params", "r-9", {"layer": 0}, {"params": np.ones(n - 1)}),
            "NaN params": request("set_params", "r-10", {"layer": 0}, {"params": np.full(n, np.nan)}),
            "unknown method": request("reboot", "r-11"),
            "no id": encode_request(None, {"method": "info"}),
        }
        expected = {"oversized": "TooLarge", "not json": "Malformed", "missing frame": "Malformed",
                    "bad dtype": "Malformed", "unknown method": "Malformed", "no id": "Malformed"}
        before = chip.get_params(0)
        for name, frames in cases.items():
            reply, _ = raw_request(server.url, frames)
            assert reply["ok"] is False, name
            assert reply["error"]["type"] == expected.get(name, "ValueError"), (name, reply["error"])
            assert reply["error"]["message"], name
        assert np.array_equal(chip.get_params(0), before)
        remote = RemoteChip(server.url)  # still serving
        assert remote.n_layers == 1 and remote.server_counter()["errors"] == len(cases)
        assert remote.query(x, 0).shape == (1, 2, 16)
        remote.close()


# ---------- security ----------
def test_binding_beyond_localhost_needs_a_token():
    with pytest.raises(ValueError, match="token"):
        ChipServer(small_chip(), host="0.0.0.0")
    with pytest.raises(ValueError, match="token"):
        ChipServer(small_chip(), host="192.168.1.10", token="")


def test_wrong_or_missing_token_is_refused(monkeypatch):
    monkeypatch.delenv("FFZERO_CHIP_TOKEN", raising=False)
    with ChipServer(small_chip(), token="s3cret") as server:
        with pytest.raises(ChipAuthError, match="token"):
            RemoteChip(server.url, timeout_s=2.0)
        with pytest.raises(ChipAuthError, match="token"):
            RemoteChip(server.url, token="guess", timeout_s=2.0)
        monkeypatch.setenv("FFZERO_CHIP_TOKEN", "s3cret")
        remote = RemoteChip(server.url)
        assert remote.n_inputs == 64
        remote.close()
        assert server.counts()["calls"] == 0


# ---------- heater safety ----------
def test_unsafe_heater_drive_is_refused_not_clipped():
    instrument = SimulatedInstrument(small_chip(init="identity"), p_pi_mW=20.0, max_power_mW=30.0)
    chip = InstrumentChip(instrument)
    n = chip.layer_info(0).n_params
    before = chip.get_params(0)
    hot = before.copy()
    hot[3] = 1.9 * np.pi  # 38 mW
    name = chip.layer_info(0).param_names[3]
    with pytest.raises(UnsafeDriveError, match=rf"{name} requested 38 mW \(allowed 0..30 mW\)"):
        chip.set_params(0, hot)
    assert np.array_equal(chip.get_params(0), before)
    x = np.ones((2, 64))
    with pytest.raises(UnsafeDriveError, match=name):
        chip.query(x, 0, {0: np.stack([before, hot])})
    drives = {0: np.full((1, n), 45.0)}
    with pytest.raises(UnsafeDriveError, match="45 mW"):
        instrument.apply_and_read(x, 0, drives)  # the instrument itself refuses too
    assert instrument.chip.counter.calls == 0 and instrument.clock.requests == 0
    with ChipServer(instrument) as server:
        remote = RemoteChip(server.url)
        with pytest.raises(UnsafeDriveError, match=name):
            remote.set_params(0, hot)
        assert np.array_equal(remote.get_params(0), before)
        remote.close()


# ---------- configuration and the serve command ----------
def test_chip_config_defaults_and_one_line_errors(tmp_path):
    good = tmp_path / "chip.toml"
    good.write_text("[chip]\nports = 16\nlayers = 1\n\n[instrument]\np_pi_mW = 25.0\n")
    cfg = ChipConfig.from_toml(good)
    assert (cfg.chip.ports, cfg.chip.layers, cfg.instrument.p_pi_mW) == (16, 1, 25.0)
    assert build_chip(cfg.with_overrides(n_features=64, image_shape=[8, 8])).n_inputs == 64
    for text, match in [
        ("[chip]\nportz = 16\n", "\\[chip\\] unknown key 'portz'"),
        ("[chip]\nimage_shape = [8]\n", "image_shape"),
        ("[chip]\nlayers = 0\n", "layers must be an integer >= 1"),
        ("[chip\n", "not valid TOML"),
        ("[heater]\n", "unknown table"),
        ("[chip]\nmesh = \"hexagon\"\n", "hexagon"),
    ]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(ValueError, match=match) as err:
            ChipConfig.from_toml(bad)
        assert "\n" not in str(err.value)


def test_chip_serve_command_prints_url_serves_and_stops_on_sigterm(tmp_path):
    cfg = tmp_path / "chip.toml"
    cfg.write_text("[chip]\nports = 16\nlayers = 1\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ffzero_photonics", "chip", "serve", "--config", str(cfg), "--latency-s", "0.5",
         "--log", str(tmp_path / "refusals.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("tcp://127.0.0.1:"), (url, proc.stderr.read() if proc.poll() is not None else "")
        remote = RemoteChip(url, timeout_s=20.0)
        remote.query(np.ones((3, 64)), 0)
        assert remote.server_counter()["lab_time_s"] == pytest.approx(0.5)
        remote.close()
        proc.terminate()
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
