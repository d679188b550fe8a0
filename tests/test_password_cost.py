"""The console's password hashes cost what argon2 recommends; only the tests hash cheaply (tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys

from argon2 import PasswordHasher, extract_parameters, profiles

from tests.conftest import PRODUCT_HASHER


def test_the_product_hashes_at_argon2s_recommended_cost():
    assert PRODUCT_HASHER.time_cost >= profiles.RFC_9106_LOW_MEMORY.time_cost
    assert PRODUCT_HASHER.memory_cost >= profiles.RFC_9106_LOW_MEMORY.memory_cost
    params = extract_parameters(PRODUCT_HASHER.hash("a password of some length"))
    assert params.type.name == "ID" and params.memory_cost == PRODUCT_HASHER.memory_cost


def test_a_fresh_process_hashes_at_the_product_cost():
    # What the service and the CLI use, outside the tests' own process.
    code = "from agi.actions import users; h = users._hasher; print(h.time_cost, h.memory_cost, h.parallelism)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    default = PasswordHasher()
    assert out.stdout.split() == [str(default.time_cost), str(default.memory_cost), str(default.parallelism)]
