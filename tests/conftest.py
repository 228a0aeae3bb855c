"""Fixtures shared by the unit tests."""

import threading

import pytest

from threadlab.checks import threads_left


@pytest.fixture
def no_leftover_threads():
    """Fails the test if a thread it started is still running 5 s after it returned."""
    before = set(threading.enumerate())
    yield
    left = threads_left(before, timeout=5)
    assert not left, f"a test left threads running: {[t.name for t in left]}"
