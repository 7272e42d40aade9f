"""How the oracle's arguments and values travel: JSON with exact floats, and its limits.

Two uses share one format:

* the oracle's table on disk (oracle.py: ``REFNET_ORACLE_RECORD`` / ``REFNET_ORACLE_VALUES``);
* the requests a submission's worker sends the grader's oracle server
  (running/oracle_server.py) and the values it gets back, on a socket the grader handed
  that worker alone (``REFNET_ORACLE_FD``), one length-prefixed JSON message at a time.

A float is written as its hexadecimal form and an array as its bytes (base64), its dtype
and its shape, so a value read back is the value written, bit for bit.  What the server
reads comes from a process that runs a student's code, so `decode` with ``strict`` refuses
anything outside what the checks send: a function the oracle does not have, a dtype that
is not a number, an array or a request larger than `MAX_ELEMENTS`, an integer beyond
`MAX_INTEGER`, nesting deeper than `MAX_DEPTH`.  Nothing is unpickled and nothing is
evaluated.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from typing import Any

import numpy as np

from .functions import ModelProblem

#: Elements in all the arrays of one request, together (the checks draw sides of 1 to 8).
MAX_ELEMENTS = 1 << 16
#: The largest integer argument (a descent's step count, a derivative's order, a shape).
MAX_INTEGER = 4096
#: How deep arguments may nest (a list of shapes in a problem in a call is 4).
MAX_DEPTH = 6
#: The longest string argument (the name of a test function).
MAX_TEXT = 64
#: The largest message, either way (a reply of MAX_ELEMENTS float64 in base64 is ~0.7 MiB).
MAX_MESSAGE = 4 << 20
#: The number kinds an array may hold: bool, signed and unsigned integers, floats.
NUMBER_KINDS = frozenset("biuf")
#: The file descriptor of a worker's end of its socket to the oracle server.
ENVIRONMENT = "REFNET_ORACLE_FD"

_LENGTH = struct.Struct(">I")


class WireError(ValueError):
    """A message that is not one the oracle's callers send (the server answers with it)."""


# -- values --------------------------------------------------------------------------------


def encode(value) -> Any:
    """``value`` as JSON-ready data: exact floats and arrays (see the module's docstring)."""
    if isinstance(value, (np.ndarray, np.generic)):  # first: np.float64 is a float too
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise WireError("an array of Python objects cannot be sent")
        data = base64.b64encode(array.tobytes(order="C")).decode()
        encoded = {"a": data, "dtype": array.dtype.str, "shape": list(array.shape)}
        return encoded | ({"g": True} if isinstance(value, np.generic) else {})
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return {"i": str(value)}
    if isinstance(value, float):
        return {"f": value.hex()}
    if isinstance(value, dict):
        return {"d": {str(key): encode(item) for key, item in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"l" if isinstance(value, list) else "t": [encode(item) for item in value]}
    if isinstance(value, ModelProblem):
        return {"problem": [encode(value.x), encode(value.t), encode(value.shapes)]}
    raise WireError(f"a {type(value).__name__} cannot be sent")


def decode(data, strict: bool = False) -> Any:
    """The value `encode` wrote; with ``strict``, within the limits of the module's
    docstring (a `WireError` says which was broken)."""
    budget = [MAX_ELEMENTS if strict else -1]
    return _decode(data, strict, budget, 0)


def _decode(data, strict: bool, budget: list[int], depth: int) -> Any:
    if strict and depth > MAX_DEPTH:
        raise WireError(f"arguments nested deeper than {MAX_DEPTH}")
    if data is None or isinstance(data, bool):
        return data
    if isinstance(data, str):
        if strict and len(data) > MAX_TEXT:
            raise WireError(f"a string longer than {MAX_TEXT} characters")
        return data
    if not isinstance(data, dict) or len(data) < 1:
        raise WireError(f"not an encoded value: {type(data).__name__}")
    if "i" in data:
        return _integer(data["i"], strict)
    if "f" in data:
        return float.fromhex(_text(data["f"]))
    if "a" in data:
        return _array(data, strict, budget)
    if "d" in data and isinstance(data["d"], dict):
        return {str(k): _decode(v, strict, budget, depth + 1) for k, v in data["d"].items()}
    for tag, kind in (("l", list), ("t", tuple)):
        if tag in data and isinstance(data[tag], list):
            if strict and len(data[tag]) > MAX_TEXT:
                raise WireError(f"a sequence longer than {MAX_TEXT}")
            return kind(_decode(item, strict, budget, depth + 1) for item in data[tag])
    if "problem" in data and isinstance(data["problem"], list) and len(data["problem"]) == 3:
        x, t, shapes = (_decode(item, strict, budget, depth + 1) for item in data["problem"])
        if not (isinstance(x, np.ndarray) and isinstance(t, np.ndarray)):
            raise WireError("a model problem's x and t must be arrays")
        if not isinstance(shapes, tuple) or not all(_is_shape(s) for s in shapes):
            raise WireError("a model problem's shapes must be a tuple of tuples of integers")
        return ModelProblem(x, t, shapes)
    raise WireError(f"not an encoded value: keys {sorted(data)[:4]}")


def _text(value) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise WireError("a number's text is not a short string")
    return value


def _integer(text, strict: bool) -> int:
    value = int(_text(text))
    if strict and abs(value) > MAX_INTEGER:
        raise WireError(f"an integer beyond {MAX_INTEGER}: {value}")
    return value


def _is_shape(shape) -> bool:
    return isinstance(shape, tuple) and all(isinstance(side, int) for side in shape)


def _array(data: dict, strict: bool, budget: list[int]) -> np.ndarray | np.generic:
    try:
        dtype = np.dtype(_text(data["dtype"]))
        shape = [int(side) for side in data["shape"]]
        raw = base64.b64decode(data["a"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"not an encoded array: {exc}") from None
    if dtype.kind not in NUMBER_KINDS or dtype.itemsize > 8:
        raise WireError(f"an array of dtype {dtype} (only numbers are sent)")
    if any(side < 0 for side in shape) or (strict and len(shape) > MAX_DEPTH):
        raise WireError(f"not an array's shape: {shape}")
    size = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if strict:
        budget[0] -= size
        if budget[0] < 0:
            raise WireError(f"more than {MAX_ELEMENTS} elements in one request")
    if len(raw) != size * dtype.itemsize:
        raise WireError("an array's bytes do not match its dtype and shape")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    return array[()] if data.get("g") else array


# -- messages on a socket ------------------------------------------------------------------


def frame(message: bytes) -> bytes:
    """``message`` with its length in front, as `read_frame` expects it."""
    return _LENGTH.pack(len(message)) + message


def frame_ready(buffer: bytearray) -> bool:
    """Whether `split_frame` has something to say about ``buffer``: a whole message, or a
    stated length over `MAX_MESSAGE`."""
    if len(buffer) < _LENGTH.size:
        return False
    (length,) = _LENGTH.unpack_from(buffer)
    return length > MAX_MESSAGE or len(buffer) >= _LENGTH.size + length


def split_frame(buffer: bytearray) -> bytes | None:
    """The first whole message in ``buffer`` (removed from it), or None while it is not
    all there; a `WireError` when its stated length is over `MAX_MESSAGE`."""
    if len(buffer) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack_from(buffer)
    if length > MAX_MESSAGE:
        raise WireError(f"a message of {length} bytes (at most {MAX_MESSAGE})")
    if len(buffer) < _LENGTH.size + length:
        return None
    message = bytes(buffer[_LENGTH.size : _LENGTH.size + length])
    del buffer[: _LENGTH.size + length]
    return message


class Connection:
    """A worker's end of its socket to the oracle server: one request, one reply."""

    def __init__(self, fd: int):
        self.socket = socket.socket(fileno=fd)
        self.socket.setblocking(True)

    def call(self, name: str, args: tuple, kwargs: dict):
        """The server's value of ``name(*args, **kwargs)``; OSError when it is gone, or
        refused the call (over its budget, or an argument it does not take)."""
        request = {"f": name, "a": encode(list(args)), "k": encode(kwargs)}
        self.socket.sendall(frame(json.dumps(request, separators=(",", ":")).encode()))
        buffer = bytearray()
        while (message := split_frame(buffer)) is None:
            chunk = self.socket.recv(1 << 16)
            if not chunk:
                raise ConnectionError("the oracle server closed the connection")
            buffer += chunk
        reply = json.loads(message)
        if "e" in reply:
            raise ConnectionRefusedError(f"the oracle server refused {name}: {reply['e']}")
        return decode(reply["v"])


_CONNECTION: list[Connection | None] = []


def connection() -> Connection | None:
    """This process's connection to the oracle server: the socket ``REFNET_ORACLE_FD``
    names (a worker's environment), opened once; None without one, or once it failed."""
    if not _CONNECTION:
        fd = os.environ.get(ENVIRONMENT, "")
        opened = None
        if fd.isdigit():
            try:
                opened = Connection(int(fd))
            except OSError:
                opened = None
        _CONNECTION.append(opened)
    return _CONNECTION[0]


def forget() -> None:
    """Stop using the server (it failed): the oracle computes here from now on.  The
    descriptor is left as it is, not closed: the code under test may have closed it, and
    its number may be a file of that code's by now."""
    connection_ = _CONNECTION[0] if _CONNECTION else None
    _CONNECTION[:] = [None]
    if connection_ is not None:
        connection_.socket.detach()
