"""The grader's oracle server (refnet/conformance/running/oracle_server.py) and what travels
to it (oracle_wire.py): its values are the oracle's, bit for bit; what no check sends is
refused; one connection cannot take the server from another."""

from __future__ import annotations

import json
import os
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from refnet.conformance import oracle, oracle_wire
from refnet.conformance.functions import (
    DESCENT_OBJECTIVES,
    MODEL_LOSSES,
    SMOOTH_FUNCTIONS,
    ModelProblem,
)
from refnet.conformance.running.batch import Limits
from refnet.conformance.running.oracle_server import OracleServer

# -- what travels ---------------------------------------------------------------------------


def _round_trip(value, strict=True):
    return oracle_wire.decode(json.loads(json.dumps(oracle_wire.encode(value))), strict=strict)


def test_every_argument_the_checks_pass_comes_back_as_it_was():
    problem = ModelProblem(np.ones((2, 3)), np.eye(2)[[0, 1]], ((3, 2), (2,)))
    values = [
        "name",
        np.linspace(-1.0, 1.0, 6).reshape(2, 3),
        np.float64(0.1),
        np.array(7, dtype=np.int64),
        np.array([True, False]),
        3,
        1e-7,
        -0.0,
        None,
        {"W1": np.ones((2, 2), dtype=np.float32)},
        problem,
        (1, 2),
    ]
    back = _round_trip(values)
    assert isinstance(back, list) and len(back) == len(values)
    for sent, got in zip(values, back, strict=True):
        assert type(got) is type(sent)
    np.testing.assert_array_equal(back[1], values[1])
    assert back[2] == np.float64(0.1) and isinstance(back[2], np.float64)
    assert np.signbit(back[7])  # -0.0 stays -0.0: floats travel as their bits
    assert back[9]["W1"].dtype == np.float32
    assert back[10].shapes == problem.shapes
    np.testing.assert_array_equal(back[10].t, problem.t)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"a": "", "dtype": "|O", "shape": [0]}, "dtype object"),
        ({"a": "", "dtype": "<U4", "shape": [0]}, "only numbers"),
        ({"a": "", "dtype": "<f8", "shape": [1 << 20]}, "elements"),
        ({"a": "AAAA", "dtype": "<f8", "shape": [1]}, "do not match"),
        ({"a": "", "dtype": "<f8", "shape": [-1]}, "shape"),
        ({"i": str(10**6)}, "beyond"),
        ({"l": ["x" * 1000]}, "longer"),
        ({"x": 1}, "not an encoded value"),
        (b"bytes".decode(), None),  # a short string is an argument like any name
    ],
)
def test_strict_decoding_refuses_what_no_check_sends(data, problem):
    if problem is None:
        assert oracle_wire.decode(data, strict=True) == data
        return
    with pytest.raises(oracle_wire.WireError, match=problem):
        oracle_wire.decode(data, strict=True)


def test_nesting_and_the_request_total_are_bounded():
    deep: dict = {"l": []}
    for _ in range(oracle_wire.MAX_DEPTH + 2):
        deep = {"l": [deep]}
    with pytest.raises(oracle_wire.WireError, match="deeper"):
        oracle_wire.decode(deep, strict=True)
    half = oracle_wire.encode(np.zeros(oracle_wire.MAX_ELEMENTS // 2 + 1))
    with pytest.raises(oracle_wire.WireError, match="elements"):  # two halves: over, together
        oracle_wire.decode({"l": [half, half]}, strict=True)
    oracle_wire.decode({"l": [half]}, strict=True)


def test_a_frame_is_read_only_when_whole():
    buffer = bytearray(oracle_wire.frame(b"first") + oracle_wire.frame(b"second")[:5])
    assert oracle_wire.frame_ready(buffer)
    assert oracle_wire.split_frame(buffer) == b"first"
    assert not oracle_wire.frame_ready(buffer)
    assert oracle_wire.split_frame(buffer) is None  # the second is not all there yet
    assert oracle_wire.frame_ready(bytearray(struct.pack(">I", oracle_wire.MAX_MESSAGE + 1)))
    with pytest.raises(oracle_wire.WireError, match="at most"):
        oracle_wire.split_frame(bytearray(struct.pack(">I", oracle_wire.MAX_MESSAGE + 1)))


# -- the server -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = str(tmp_path_factory.mktemp("oracle-home"))
    env = {key: os.environ[key] for key in ("PATH", "PYTHONPATH") if key in os.environ}
    env |= {"HOME": home, "TMPDIR": home, "JAX_PLATFORMS": "cpu", "PYTHONHASHSEED": "0"}
    import refnet

    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(refnet.__file__))
    running = OracleServer(env, Limits(memory=2**31), cache=None)
    assert running.start(), "the oracle server did not start"
    yield running
    running.close()


_OPEN: list[oracle_wire.Connection] = []


@pytest.fixture(autouse=True)
def _close_connections():
    yield
    while _OPEN:
        _OPEN.pop().socket.close()


def _connect(server, cpu=60.0) -> oracle_wire.Connection:
    fd = server.connect(cpu)
    assert fd is not None
    _OPEN.append(oracle_wire.Connection(fd))
    return _OPEN[-1]


def _raw(connection: oracle_wire.Connection, payload: bytes) -> dict | None:
    """Send one framed payload as it is; the reply, or None when the server hung up."""
    connection.socket.sendall(oracle_wire.frame(payload))
    buffer = bytearray()
    while (message := oracle_wire.split_frame(buffer)) is None:
        chunk = connection.socket.recv(1 << 16)
        if not chunk:
            return None
        buffer += chunk
    return json.loads(message)


def test_the_servers_values_are_the_oracles_bit_for_bit(server):
    connection = _connect(server)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    name = sorted(SMOOTH_FUNCTIONS)[0]
    kind = "linear_ce"
    assert kind in MODEL_LOSSES
    descent = sorted(DESCENT_OBJECTIVES)[0]
    problem = ModelProblem(rng.normal(size=(2, 3)), np.eye(2)[[1, 0]], ((3, 2),))
    theta = rng.normal(size=6)
    params = {"W1": x[:, :2], "b1": np.zeros(2), "W2": x[:2, :3], "b2": np.ones(3)}
    calls = [
        ("softmax", (x,), {}),
        ("smooth_gradient", (name, x[0]), {}),
        ("model_gradient", (kind, theta, problem), {}),
        ("two_layer_gradient", (params, x[:2, :3], np.array([0, 2])), {"delta": 0.0}),
        ("descent", (descent, x[0, :2], 2.0 * np.eye(2), np.ones(2), 0.1, 5), {}),
        ("cross_entropy", (oracle.softmax(x), np.array([0, 1, 3])), {}),
    ]
    for function, args, kwargs in calls:
        served = connection.call(function, args, kwargs)
        here = getattr(oracle, function)(*args, **kwargs)
        if isinstance(here, dict):
            assert served.keys() == here.keys()
            for key in here:
                assert served[key].tobytes() == here[key].tobytes(), (function, key)
        else:
            assert np.asarray(served).tobytes() == np.asarray(here).tobytes(), function


def test_a_refused_request_leaves_the_connection_serving(server):
    connection = _connect(server)
    for bad in (
        b"\x80\x04not json",
        json.dumps({"f": "__import__", "a": {"l": ["os"]}, "k": {"d": {}}}).encode(),
        json.dumps({"f": "as_numpy", "a": {"l": []}, "k": {"d": {}}}).encode(),
        json.dumps({"f": "softmax", "a": {"l": []}, "k": {"d": {"evil": True}}}).encode(),
    ):
        reply = _raw(connection, bad)
        assert reply is not None and "e" in reply and "v" not in reply, bad
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(connection.call("softmax", (x,), {}), oracle.softmax(x))


def test_a_message_over_the_limit_ends_its_connection_only(server):
    other = _connect(server)
    offender = _connect(server)
    offender.socket.sendall(struct.pack(">I", oracle_wire.MAX_MESSAGE + 1) + b"x" * 1024)
    offender.socket.settimeout(60)
    assert offender.socket.recv(16) == b""  # hung up on
    x = np.array([0.5, -0.5])
    np.testing.assert_array_equal(other.call("sigmoid", (x,), {}), oracle.sigmoid(x))


def test_a_connection_over_its_cpu_budget_is_closed(server):
    broke = _connect(server, cpu=0.0)
    with pytest.raises(ConnectionError):  # a shape of its own: compiled, so it costs CPU time
        broke.call("softmax", (np.ones((5, 7, 3)),), {})
    x = np.array([3.0, 1.0])
    np.testing.assert_array_equal(_connect(server).call("softmax", (x,), {}), oracle.softmax(x))


def test_a_worker_that_does_not_read_cannot_hold_the_others(server):
    hog = _connect(server)
    big = oracle_wire.encode([np.zeros(oracle_wire.MAX_ELEMENTS - 1)])
    request = oracle_wire.frame(json.dumps({"f": "softmax", "a": big, "k": {"d": {}}}).encode())
    hog.socket.settimeout(5)
    try:  # its answers (~0.7 MB each) pile up unread: more than a socket's buffer holds
        for _ in range(8):
            hog.socket.sendall(request)
    except (TimeoutError, BlockingIOError):
        pass  # the server stopped reading from it: one request at a time
    waiting = _connect(server)
    waiting.socket.settimeout(60)  # a server stuck on the hog would never answer
    x = np.array([0.25, 0.75])
    np.testing.assert_array_equal(waiting.call("softmax", (x,), {}), oracle.softmax(x))


def test_the_oracle_asks_the_server_when_it_has_a_socket(server, monkeypatch):
    fd = server.connect(60.0)
    assert fd is not None
    monkeypatch.setenv(oracle_wire.ENVIRONMENT, str(fd))
    monkeypatch.setattr(oracle_wire, "_CONNECTION", [])
    monkeypatch.setattr(oracle, "VALUES", {})
    monkeypatch.setitem(oracle.COUNTS, "served", 0)
    x = np.array([0.1, 0.2, 0.7])
    served = oracle.softmax(x)
    assert oracle.COUNTS["served"] == 1
    oracle_wire.forget()  # and without it, the same value computed here
    os.close(fd)
    monkeypatch.setattr(oracle, "VALUES", {})
    assert oracle.softmax(x).tobytes() == served.tobytes()
    assert oracle.COUNTS["served"] == 1


def test_without_a_sandbox_or_a_user_the_server_still_serves(tmp_path, monkeypatch):
    """Where the grader is not root and has no bubblewrap (a laptop), the server runs
    under the limits alone, as a worker does, and answers the same."""
    from refnet.conformance.running import sandbox

    monkeypatch.setattr(sandbox, "available", lambda: sandbox.Protections())
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    import refnet

    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(refnet.__file__))
    plain = OracleServer(env, Limits(memory=2**31), cache=None)
    assert plain.start() and plain.uid is None
    try:
        x = np.array([2.0, -1.0, 0.5])
        served = _connect(plain).call("softmax", (x,), {})
        assert served.tobytes() == oracle.softmax(x).tobytes()
    finally:
        plain.close()


# -- a class ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_class_is_graded_the_same_with_and_without_the_server(tmp_path):
    """The server changes where the oracle's values are computed, never what they are: the
    same statuses, reasons and counterexamples (whose expected values are the oracle's),
    for a faithful student and two whose code goes another way than refnet's."""
    from refnet.conformance.running import batch

    folder = tmp_path / "class"
    folder.mkdir()
    fixtures = Path(__file__).parent / "fixtures"
    for source in ("class/ben_copy_perturb.py", "class/eve_batch_softmax.py"):
        (folder / Path(source).name).write_text((fixtures / source).read_text())
    (folder / "ada.py").write_text((fixtures / "book_chapter4.py").read_text())
    submissions = batch.find_submissions(folder)
    checks = ("softmax", "cross_entropy_error.batch", "numerical_gradient", "TwoLayerNet.loss")
    options = batch.RunOptions(max_examples=10, select=checks, profile="book")
    seen = []
    for served in (True, False):
        runs = batch.run_all(submissions, replace(options, oracle_server=served), jobs=2)
        seen.append(
            {
                run["student"]: [
                    (c["name"], c["status"], c["reason"], c["counterexample"])
                    for c in run["report"]["checks"]
                ]
                for run in runs
            }
        )
    assert seen[0] == seen[1]
    statuses = {student: {row[1] for row in rows} for student, rows in seen[0].items()}
    assert "fail" in statuses["ben_copy_perturb"] and statuses["ada"] <= {"pass", "warn"}
