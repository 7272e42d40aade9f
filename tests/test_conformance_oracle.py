"""The oracle's table of values (refnet/conformance/oracle.py): what a grader's warm-up
records, every later submission reads.  A value read back must be the value computed, bit
for bit, under a key that tells apart every argument the checks pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from refnet.conformance import oracle
from refnet.conformance.functions import SMOOTH_FUNCTIONS

NAME = sorted(SMOOTH_FUNCTIONS)[0]


def test_a_scalar_and_a_one_element_vector_are_different_keys():
    scalar = oracle.smooth_gradient(NAME, np.array(0.5))
    vector = oracle.smooth_gradient(NAME, np.array([0.5]))
    assert np.shape(scalar) == () and np.shape(vector) == (1,)
    assert np.shape(oracle.smooth_gradient(NAME, np.array(0.5))) == ()


def test_dtypes_and_shapes_are_part_of_the_key():
    x = np.arange(6.0).reshape(2, 3)
    first = oracle.softmax(x)
    assert oracle.softmax(x.T).shape == (3, 2)
    assert oracle.softmax(x.astype(np.float32)).shape == (2, 3)
    assert oracle.softmax(x.reshape(3, 2)).shape == (3, 2)
    np.testing.assert_array_equal(oracle.softmax(x), first)


def test_changing_a_returned_value_leaves_the_table_alone():
    x = np.array([1.0, 2.0, 3.0])
    kept = np.array(oracle.softmax(x))  # a miss: JAX's value (read-only)
    second = oracle.softmax(x)  # a hit: a fresh, writable copy
    second[:] = 0.0
    np.testing.assert_array_equal(oracle.softmax(x), kept)
    params = {"W1": np.ones((2, 3)), "b1": np.zeros(3), "W2": np.ones((3, 2)), "b2": np.zeros(2)}
    x, t = np.ones((1, 2)), np.array([[1.0, 0.0]])
    oracle.two_layer_gradient(params, x, t)
    grads = oracle.two_layer_gradient(params, x, t)
    grads["W1"][:] = 7.0
    assert not np.any(oracle.two_layer_gradient(params, x, t)["W1"] == 7.0)


_PROBE = """
import json, sys
import numpy as np
from refnet.conformance import oracle
x = np.linspace(-1.0, 2.0, 7).reshape(7)
values = {
    "softmax": oracle.softmax(x).tolist(),
    "cross_entropy": oracle.cross_entropy(oracle.softmax(x), np.eye(7)[2]),
    "gradient": oracle.smooth_gradient(sys.argv[1], x).tolist(),
}
print(json.dumps({"values": values, "jax": "jax" in sys.modules, "counts": oracle.COUNTS}))
"""


def _probe(env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, NAME],
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_recorded_values_read_back_bit_for_bit_without_jax(tmp_path):
    table = tmp_path / "oracle.json"
    recorded = _probe({"REFNET_ORACLE_RECORD": str(table)})
    # softmax(x) is asked twice (once inside the cross-entropy's arguments): one hit.
    assert recorded["jax"] and recorded["counts"] == {"hits": 1, "misses": 3}
    assert table.is_file()
    read = _probe({"REFNET_ORACLE_VALUES": str(table)})
    assert read["counts"] == {"hits": 4, "misses": 0}
    assert read["jax"] is False  # every value from the table: JAX never imported
    assert read["values"] == recorded["values"]  # JSON floats: repr round-trips exactly
