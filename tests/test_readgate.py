"""The heavy-read gate: a read that finds every slot taken waits a bounded time for one, a bounded
number of reads wait at once, and the setting is read from the environment."""
import threading

import pytest

from logstore.config import ConfigError, Settings
from logstore.errors import ApiError
from logstore.readgate import ReadGate


def taken(gate):
    for _ in range(gate.slots):
        gate.enter()


def test_a_read_that_finds_every_slot_taken_gets_the_first_one_freed():
    gate = ReadGate(2, wait_ms=10_000, waiters=1)
    taken(gate)
    got = threading.Event()

    def waiter():
        gate.enter()
        got.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert not got.wait(0.2)          # still waiting: both slots are held
    gate.leave()
    thread.join(10)
    assert got.is_set()
    gate.wait_ms = 0
    with pytest.raises(ApiError):     # the freed slot went to the waiter: none is free now
        gate.enter()


def test_a_read_that_waits_out_its_time_is_refused_with_reads_busy():
    gate = ReadGate(1, wait_ms=50, waiters=1)
    taken(gate)
    with pytest.raises(ApiError) as refused:
        gate.enter()
    assert refused.value.status == 503 and refused.value.code == "READS_BUSY"
    assert "50 ms" in refused.value.detail


def test_no_more_reads_wait_than_the_gate_allows_and_without_a_wait_none_does():
    gate = ReadGate(1, wait_ms=10_000, waiters=1)
    taken(gate)
    waiting = threading.Thread(target=gate.enter)
    waiting.start()
    while gate._waiting == 0:
        threading.Event().wait(0.01)
    with pytest.raises(ApiError):     # the one waiter's place is taken: refused at once
        gate.enter()
    gate.leave()
    waiting.join(10)
    gate.leave()
    never = ReadGate(1, wait_ms=0, waiters=3)
    taken(never)
    with pytest.raises(ApiError):
        never.enter()


def test_the_wait_and_the_waiters_come_from_the_environment():
    assert Settings.from_env({}).heavy_read_wait_ms == 2000
    assert Settings.from_env({"LOGSTORE_HEAVY_READ_WAIT_MS": "0"}).heavy_read_wait_ms == 0
    assert Settings.from_env({"LOGSTORE_HEAVY_READ_WAIT_MS": "350"}).heavy_read_wait_ms == 350
    with pytest.raises(ConfigError):
        Settings.from_env({"LOGSTORE_HEAVY_READ_WAIT_MS": "-1"})
    assert Settings.from_env({"GUNICORN_THREADS": "8"}).gunicorn_threads == 8


def test_the_app_s_gate_keeps_a_thread_free_for_posts(app):
    gate = app.extensions["logstore.readgate"]
    settings = app.extensions["logstore.settings"]
    assert gate.slots + gate.waiters == settings.gunicorn_threads - 1
