"""The patches of SecantusDB apply to the pinned version only; the stall they fix is shown in
tests/e2e/test_local_database.py, the bounded stop in tests/e2e/test_local_run.py."""
import logging

import pytest
from secantus import SecantusDBServer, commands, deadline

from logstore import secantus_patches


def test_secantus_patches_refuse_another_version(caplog):
    before = commands._run_txn_statement
    with caplog.at_level(logging.WARNING, logger="logstore"):
        assert secantus_patches.apply(version="0.7.1") is False
    assert commands._run_txn_statement is before
    assert "SecantusDB 0.7.1 is not 0.7.0b3: not patching it" in caplog.text


def test_secantus_patches_apply_once_to_the_pinned_version():
    assert secantus_patches.apply() is True    # (or was already, for the test session's own database)
    patched = commands._run_txn_statement
    assert secantus_patches.apply() is True
    assert commands._run_txn_statement is patched and patched.logstore_patched


def test_secantus_patches_interrupt_makes_time_limit_checks_fail(monkeypatch):
    check = secantus_patches._interruptible(lambda: None, deadline.MaxTimeMSExpired)
    check()
    monkeypatch.setattr(secantus_patches._Stopping, "interrupt", True)
    with pytest.raises(deadline.MaxTimeMSExpired, match="shutting down"):
        check()


def test_a_patched_stop_wakes_the_accept_thread_instead_of_waiting_2_s_for_it(tmp_path):
    # Closing a listening socket does not wake a thread blocked in accept() on Linux: SecantusDB's
    # stop then waited out its 2 s join of that thread, which stayed blocked for good.
    server = SecantusDBServer(host="127.0.0.1", port=0, storage_path=str(tmp_path))
    server.start()
    accepting = server._thread
    secantus_patches.wake_listener(server)
    server.stop()
    assert not accepting.is_alive()
