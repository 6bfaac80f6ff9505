"""The lab boundary under attack: hostile frames, resource exhaustion, leases, exactly-once, identity, client waits."""

import json
import threading

import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ffzero_photonics.blackbox import ForwardingBlackBox
from ffzero_photonics.data import load_dataset
from ffzero_photonics.errors import ExternalFailure, UserInputError
from ffzero_photonics.lab import server as server_module
from ffzero_photonics.lab.client import (
    ChipAuthError, ChipConnectionError, ChipIdentityError, ChipLeaseError, ChipRequestError, ChipServerError,
    ChipStateLost, RemoteChip,
)
from ffzero_photonics.lab.protocol import (
    DTYPES, METHODS, ChipProtocolError, Limits, auth_frame, decode, encode, encode_request, parse_json,
)
from ffzero_photonics.lab.server import ChipServer
from ffzero_photonics.photonic.chip import PhotonicChip
from ffzero_photonics.trainer import Trainer

ERROR_TYPES = {"Malformed", "TooLarge", "AuthError", "LeaseHeld", "Busy", "Restarted", "ValueError"}


def small_chip(seed=0, **kw):
    return PhotonicChip(64, image_shape=(8, 8), ports=16, layers=1, seed=seed, **kw)


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory):
    """A server that is never started: the tests call its request handler directly."""
    server = ChipServer(small_chip(), token="s3cret", log_path=tmp_path_factory.mktemp("log") / "fuzz.jsonl")
    yield server
    server.close()


@pytest.fixture
def log_path(tmp_path):
    return tmp_path / "refusals.jsonl"


def raw_request(url, frames, timeout_s=5.0):
    """Send hand-made frames on a fresh DEALER socket and decode the reply."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(url)
    try:
        sock.send_multipart(frames)
        assert sock.poll(int(timeout_s * 1000)), "no reply"
        return decode(sock.recv_multipart())
    finally:
        sock.close()


def request(method, rid, args=None, arrays=None, token=None, **header):
    return encode_request(token, {"id": rid, "method": method, "args": args or {}, **header}, arrays)


def assert_error_reply(frames, kinds=ERROR_TYPES):
    header, arrays = decode(frames)
    assert not arrays
    return assert_error(header, kinds)


def assert_error(header, kinds=ERROR_TYPES):
    assert header["ok"] is False
    assert header["error"]["type"] in kinds, header["error"]
    assert isinstance(header["error"]["message"], str) and header["error"]["message"]
    return header["error"]


def read_log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---------- property-based: hostile frames never escape the handler ----------
@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=300), max_size=6))
def test_random_frames_always_get_a_well_formed_error_reply(idle_server, frames):
    assert_error_reply(idle_server.handle(frames, b"peer"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**60, 2**60) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    token=st.sampled_from([None, "", "guess", "s3cret"]),
    header=st.fixed_dictionaries(
        {"v": st.sampled_from([2, 1, "2", None]), "id": st.sampled_from(["c-1", "c-x", "", None, 7, "a" * 200 + "-1"]),
         "method": st.sampled_from([*METHODS, "reboot", None]), "args": json_values,
         "arrays": json_values | st.lists(st.fixed_dictionaries({
             "name": st.sampled_from(["x", "params", "settings.0", "settings.9", ""]),
             "dtype": st.sampled_from([*DTYPES, "|O", "<c16", None]),
             "shape": st.lists(st.integers(-1, 2**40), max_size=5)}), max_size=3)},
        optional={"instance": json_values}),
    blobs=st.lists(st.binary(max_size=64), max_size=3),
)
def test_hostile_headers_get_a_reply_and_never_raise(idle_server, token, header, blobs):
    try:
        body = json.dumps(header).encode()
    except ValueError:
        return
    reply = idle_server.handle([auth_frame(token), body, *blobs], b"peer")
    if token != "s3cret":
        assert assert_error_reply(reply)["type"] == "AuthError"
    elif reply is not None:  # None only when a valid chip call went to the chip's worker
        head, _ = decode(reply)
        assert isinstance(head["ok"], bool) and (head["ok"] or head["error"]["type"] in ERROR_TYPES)
    else:
        assert header["method"] in ("get_params", "set_params", "query")


arrays_strategy = st.dictionaries(
    st.text("abcxyz.0123", min_size=1, max_size=12),
    st.builds(lambda dtype, shape, seed: (np.random.default_rng(seed).random(shape) * 100).astype(dtype),
              st.sampled_from(DTYPES), st.lists(st.integers(0, 5), max_size=3).map(tuple), st.integers(0, 9)),
    max_size=4,
)


@settings(max_examples=200, deadline=None, database=None)
@given(header=st.dictionaries(st.text(max_size=10).filter(lambda k: k not in ("v", "arrays")),
                              st.integers(-2**53, 2**53) | st.text(max_size=10) | st.booleans(), max_size=5),
       arrays=arrays_strategy)
def test_encode_decode_round_trip(header, arrays):
    got_header, got_arrays = decode(encode(header, arrays), Limits())
    assert {k: v for k, v in got_header.items() if k not in ("v", "arrays")} == header
    assert list(got_arrays) == list(arrays)
    for name, arr in arrays.items():
        assert got_arrays[name].dtype == arr.dtype and np.array_equal(got_arrays[name], arr)


# ---------- the attacks, one by one ----------
def hostile_bodies():
    x = np.ones((1, 64)).tobytes()
    return {
        "nested JSON": b"[" * 1000 + b"]" * 1000,
        "5000-digit integer": b'{"v": 2, "id": "c-1", "method": "info", "args": {"n": ' + b"9" * 5000 + b"}}",
        "NaN": b'{"v": 2, "id": "c-1", "method": "info", "args": {"n": NaN}}',
        "shape 2**100": [json.dumps({"v": 2, "id": "c-2", "method": "query", "args": {"layer": 0},
                                     "arrays": [{"name": "x", "dtype": "<f8", "shape": [2**100]}]}).encode(), x],
        "shape 2**32 x 2**32, empty frame": [json.dumps({
            "v": 2, "id": "c-3", "method": "query", "args": {"layer": 0},
            "arrays": [{"name": "x", "dtype": "<f8", "shape": [2**32, 2**32]}]}).encode(), b""],
    }


@pytest.mark.parametrize("token", [None, "s3cret"])
def test_one_hostile_message_cannot_kill_the_server(token, log_path):
    with ChipServer(small_chip(), token=token, log_path=log_path) as server:
        for name, body in hostile_bodies().items():
            frames = [auth_frame(token), *(body if isinstance(body, list) else [body])]
            error = assert_error(raw_request(server.url, frames)[0])
            assert error["type"] == "Malformed", (name, error)
        with RemoteChip(server.url, token=token) as remote:  # still serving
            assert remote.query(np.ones((2, 64)), 0).shape == (1, 2, 16)
        assert server.counts()["refused"] == len(hostile_bodies())


def test_json_limits_reject_depth_big_integers_and_size():
    with pytest.raises(ChipProtocolError, match="nests 9 levels"):
        parse_json(b"[" * 9 + b"]" * 9, 1024, 8)
    assert parse_json(b'[[["[[[[[[[[[["]]]', 1024, 8) == [[["[[[[[[[[[["]]]  # brackets in strings do not count
    with pytest.raises(ChipProtocolError, match="exceeds 2\\*\\*53"):
        parse_json(b"[9007199254740993]", 1024, 8)
    assert parse_json(b"[9007199254740992, -3, 1.5e3]", 1024, 8) == [2**53, -3, 1500.0]
    with pytest.raises(ChipProtocolError, match="exceeds 64"):
        parse_json(b" " * 65, 64, 8)
    with pytest.raises(ChipProtocolError, match="out of range"):
        parse_json(b"[1e999]", 1024, 8)


def test_an_unauthenticated_body_is_never_parsed(monkeypatch, log_path):
    parsed = []
    real = server_module.decode
    monkeypatch.setattr(server_module, "decode", lambda frames, limits: parsed.append(1) or real(frames, limits))
    with ChipServer(small_chip(), token="s3cret", log_path=log_path) as server:
        for token in (None, "guess", "s3cre", "s3cret-and-more"):
            header, _ = raw_request(server.url, [auth_frame(token), b"[" * 1000 + b"]" * 1000])
            assert header["error"]["type"] == "AuthError"
        assert not parsed
        header, _ = raw_request(server.url, [b"no magic", b"{}"])
        assert header["error"]["type"] == "Malformed" and not parsed
        header, _ = raw_request(server.url, request("info", "c-1", token="s3cret"))
        assert header["ok"] and parsed
    events = read_log(log_path)
    assert [e["outcome"] for e in events] == ["unauthenticated"] * 5
    assert {"time", "peer", "client", "id", "op", "outcome", "reason"} <= set(events[0])
    assert events[0]["client"] is None and events[0]["reason"] == "this server requires a token"


def test_work_and_reply_size_are_refused_before_any_work(log_path):
    chip = small_chip()
    n = chip.layer_info(0).n_params
    with ChipServer(chip, log_path=log_path) as server:
        x = np.random.default_rng(0).random((2500, 64))
        amplify = request("query", "big-1", {"layer": 0}, {"x": x, "settings.0": np.zeros((400, n))})
        assert sum(map(len, amplify)) > 2 * 2**20  # a ~2 MB request asking for a 128 MB reply
        error = assert_error(raw_request(server.url, amplify)[0])
        assert error["type"] == "TooLarge" and "400 settings x 2500 inputs" in error["message"]
        assert chip.counter.calls == 0
        with RemoteChip(server.url) as remote:
            with pytest.raises(ChipRequestError, match="work limit") as err:
                remote.query(x, 0, {0: np.zeros((400, n))})
            assert isinstance(err.value, UserInputError)
            assert remote.query(x[:16], 0, {0: np.zeros((8, n))}).shape == (8, 16, 16)  # a training-sized query
    with ChipServer(small_chip(), max_reply_bytes=4096, log_path=log_path) as server:
        error = assert_error(raw_request(server.url, request("query", "r-1", {"layer": 0}, {"x": x[:40]}))[0])
        assert error["type"] == "TooLarge" and "reply of 5120 bytes" in error["message"]
    outcomes = [(e["op"], e["outcome"]) for e in read_log(log_path)]
    assert outcomes == [("query", "refused")] * 3


def test_too_many_frames_or_bytes_are_refused_without_keeping_them(log_path):
    with ChipServer(small_chip(), max_request_bytes=4096, log_path=log_path) as server:
        error = assert_error(raw_request(server.url, [auth_frame(None)] + [b"x"] * 100)[0])
        assert error["type"] == "TooLarge" and "frames" in error["message"]
        error = assert_error(raw_request(server.url, [auth_frame(None), b"{}", b"x" * 5000])[0])
        assert error["type"] == "TooLarge" and "4096 bytes" in error["message"]


# ---------- the lease ----------
def test_an_interfering_client_is_refused_during_a_run_and_the_run_is_unaffected(log_path):
    data = load_dataset("digits", seed=0, standardize=False, max_train=256)
    reference = small_chip()
    Trainer(epochs=1, batch_size=64, seed=0).fit(reference, data)
    refusals = []
    with ChipServer(small_chip(), log_path=log_path) as server:
        owner = RemoteChip(server.url)
        owner.acquire()
        run = threading.Thread(target=lambda: Trainer(epochs=1, batch_size=64, seed=0).fit(owner, data))
        run.start()
        intruder = RemoteChip(server.url)  # info is open to everyone
        zeros = np.zeros(intruder.layer_info(0).n_params)
        while run.is_alive() or not refusals:
            for attempt in (lambda: intruder.set_params(0, zeros), lambda: intruder.query(np.ones((1, 64)), 0)):
                with pytest.raises(ChipLeaseError, match="leased to another client") as err:
                    attempt()
                refusals.append(err.value)
        run.join()
        assert np.array_equal(owner.get_params(0), reference.get_params(0))
        assert isinstance(refusals[0], ExternalFailure) and "\n" not in str(refusals[0])
        owner.close()  # releases the lease: the chip is free at once
        intruder.set_params(0, zeros)
        assert np.array_equal(intruder.get_params(0), zeros)
        intruder.close()
    assert {e["outcome"] for e in read_log(log_path)} == {"refused"}


def test_a_lease_lapses_when_its_holder_goes_quiet(log_path):
    with ChipServer(small_chip(), lease_ttl_s=0.3, log_path=log_path) as server:
        gone = RemoteChip(server.url)
        gone.query(np.ones((1, 64)), 0)
        other = RemoteChip(server.url, timeout_s=5.0, retries=0)
        assert server.info()["lease"]["held"]
        with pytest.raises(ChipLeaseError):
            other.query(np.ones((1, 64)), 0)
        expired = threading.Event()
        expired.wait(0.4)  # longer than the lease's time to live
        assert not server.info()["lease"]["held"]
        assert other.query(np.ones((1, 64)), 0).shape == (1, 1, 16)
        other.close()


# ---------- exactly once ----------
def test_set_params_is_applied_once_even_when_no_reply_is_cached(log_path):
    chip = small_chip()
    n = chip.layer_info(0).n_params
    with ChipServer(chip, cache_entries=0, cache_bytes=0, log_path=log_path) as server:
        first = request("set_params", "cl-2", {"layer": 0}, {"params": np.full(n, 0.5)})
        assert raw_request(server.url, first)[0]["ok"]
        assert raw_request(server.url, request("set_params", "cl-3", {"layer": 0}, {"params": np.full(n, 1.0)}))[0]["ok"]
        again, _ = raw_request(server.url, first)  # a late retry of the older request: nothing is cached
        assert again["ok"] and again["result"] == {"duplicate": True}
        np.testing.assert_allclose(chip.get_params(0), 1.0)
        query = request("query", "cl-4", {"layer": 0}, {"x": np.ones((300, 64))})  # reply larger than the cache
        a, b = raw_request(server.url, query)[1]["y"], raw_request(server.url, query)[1]["y"]
        assert np.array_equal(a, b)
        counts = server.counts()
        assert (counts["calls"], counts["recomputed"], counts["duplicates"], counts["replayed"]) == (1, 1, 1, 0)


def test_a_request_for_another_server_instance_is_refused_not_applied(log_path):
    chip = small_chip()
    n = chip.layer_info(0).n_params
    before = chip.get_params(0)
    with ChipServer(chip, log_path=log_path) as server:
        header, _ = raw_request(server.url, request("set_params", "cl-1", {"layer": 0}, {"params": np.zeros(n)},
                                                    instance="0123456789ab"))
        assert header["error"]["type"] == "Restarted" and header["id"] == "cl-1"
        assert np.array_equal(chip.get_params(0), before)


def test_a_restarted_server_makes_the_client_stop(tmp_path):
    server = ChipServer(small_chip(), log_path=None).start()
    remote = RemoteChip(server.url, timeout_s=10.0, attempt_timeout_s=0.2)
    remote.query(np.ones((1, 64)), 0)
    port = server.port
    server.close()
    again = ChipServer(small_chip(), port=port, log_path=None).start()
    try:
        with pytest.raises(ChipStateLost, match="restarted"):
            remote.set_params(0, np.zeros(remote.layer_info(0).n_params))
        assert again.counts()["calls"] == 0 and not again.info()["lease"]["held"]
    finally:
        remote.close()
        again.close()


# ---------- bounded time and responsiveness ----------
class GatedChip(ForwardingBlackBox):
    """A chip whose queries wait until the test opens the gate."""

    def __init__(self, inner):
        super().__init__(inner)
        self.gate, self.entered = threading.Event(), threading.Event()

    def query(self, x, layer, settings=None):
        self.entered.set()
        self.gate.wait(10)
        return self.inner.query(x, layer, settings)


def test_a_busy_chip_still_answers_info_and_a_request_overrunning_its_time_is_reported(log_path):
    chip = GatedChip(small_chip())
    with ChipServer(chip, max_request_s=0.2, log_path=log_path) as server:
        owner = RemoteChip(server.url, timeout_s=10.0)
        failures = []
        slow = threading.Thread(target=lambda: failures.append(pytest.raises(ChipServerError, owner.query, np.ones((1, 64)), 0)))
        slow.start()
        assert chip.entered.wait(5)
        bystander = RemoteChip(server.url, timeout_s=5.0)  # answered while the chip is held up
        assert bystander.fingerprint == server.fingerprint and not chip.gate.is_set()
        slow.join(10)
        assert "did not finish within the server's limit of 0.2 s" in str(failures[0].value)
        chip.gate.set()
        assert owner.query(np.ones((1, 64)), 0).shape == (1, 1, 16)  # busy until done, then serving again
        owner.close()
        bystander.close()
    assert [e["outcome"] for e in read_log(log_path)] == ["timeout"]


# ---------- identity ----------
def test_fingerprint_is_recorded_and_a_different_chip_is_refused(log_path):
    with ChipServer(small_chip(seed=0), log_path=log_path) as server:
        remote = RemoteChip(server.url)
        config = remote.to_config()
        assert config == {"url": server.url, "fingerprint": server.fingerprint} and len(remote.fingerprint) == 64
        assert remote.server_config == small_chip(seed=0).to_config()
        remote.close()
        RemoteChip.from_config(config).close()  # the same chip: accepted
    with ChipServer(small_chip(seed=1), port=server.port, log_path=log_path) as other:
        assert other.fingerprint != config["fingerprint"]
        with pytest.raises(ChipIdentityError, match="fingerprint") as err:
            RemoteChip.from_config(config)
        assert isinstance(err.value, UserInputError) and "\n" not in str(err.value)
        with RemoteChip(other.url) as connected:  # what a resume checks against the checkpoint's model config
            with pytest.raises(ChipIdentityError):
                connected.check_identity(config)
            connected.check_identity(connected.to_config())


# ---------- the client ----------
@pytest.mark.parametrize("url", ["tcp://", "tcp://host", "tcp://host:99999", "http://host:5555", "tcp://:5555",
                                 "tcp://a b:1", "tcp://host:port", "127.0.0.1:5555", 5555, None])
def test_bad_urls_are_one_line_user_errors(url):
    with pytest.raises(UserInputError, match=r"tcp://HOST:PORT") as err:
        RemoteChip(url)
    assert repr(url) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("option", [{"timeout_s": 0}, {"timeout_s": float("inf")}, {"retries": -1},
                                    {"backoff_s": -1.0}, {"attempt_timeout_s": "1"}])
def test_bad_client_options_are_one_line_user_errors(option):
    with pytest.raises(UserInputError, match=next(iter(option))):
        RemoteChip("tcp://127.0.0.1:9", **option)


def test_an_unreachable_server_fails_within_the_timeout_as_an_external_failure():
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    sock.close(linger=0)  # a port with nobody behind it
    with pytest.raises(ChipConnectionError, match=r"no reply .* \(timeout 0.5 s\)") as err:
        RemoteChip(f"tcp://127.0.0.1:{port}", timeout_s=0.5)
    assert isinstance(err.value, ExternalFailure)
    for cls in (ChipConnectionError, ChipStateLost, ChipAuthError, ChipLeaseError, ChipServerError):
        assert issubclass(cls, ExternalFailure)
    for cls in (ChipRequestError, ChipIdentityError):
        assert issubclass(cls, UserInputError)


def test_unsafe_drives_are_logged(log_path):
    from ffzero_photonics.lab import SimulatedInstrument

    with ChipServer(SimulatedInstrument(small_chip(init="identity"), p_pi_mW=20.0, max_power_mW=30.0), log_path=log_path) as server:
        with RemoteChip(server.url) as remote, pytest.raises(Exception, match="mW"):
            remote.set_params(0, np.full(remote.layer_info(0).n_params, 1.9 * np.pi))
    (event,) = read_log(log_path)
    assert event["outcome"] == "unsafe" and event["op"] == "set_params" and event["client"] == remote._link.client_id
