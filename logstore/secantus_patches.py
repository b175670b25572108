"""Three changes to SecantusDB 0.7.0b3, applied in the local database's own process (logstore.local_database).

The first two touch private names of that one version, so ``apply`` checks the version first and
leaves any other version alone (it logs why): a new SecantusDB must be looked at again, not patched
blindly. The third only shuts down a socket if the server has one, which is harmless on any version.

1. **Cursors released after each statement of a transaction.** SecantusDB keeps a transaction's
   WiredTiger cursors positioned between its statements (``Storage._cursor`` resets a cursor only
   when it is next used). A transaction waiting for a collection lock after its first read then
   holds a hazard pointer on an index's leaf page; once that page passes ~4 MB WiredTiger cannot
   split it, every index insert sleeps through failed splits and every command waits behind it
   (seconds, up to 100 s; docs/DESIGN.md, emulator gaps). Resetting the cursors at the end of each
   statement drops the pointer; the next statement repositions them anyway.
2. **Commands in flight interrupted at stop.** ``SecantusDBServer.stop`` waits up to 5 s for
   running commands, then dumps their stacks and closes storage under them. With
   ``interrupt_commands()`` set, a running command fails at its next cooperative time-limit check
   (the checks ``maxTimeMS`` uses, once per document scanned) as if its time limit had passed.
3. **The listening socket woken at stop.** ``stop`` closes the listening socket, then waits up to
   2 s for the thread accepting connections; on Linux a close does not wake a thread blocked in
   ``accept()``, so every stop waited out those 2 s (and the thread stayed blocked).
   ``wake_listener`` shuts the socket down first, which does wake it.
"""
from __future__ import annotations

import contextlib
import logging
import socket

log = logging.getLogger(__name__)

PINNED_VERSION = "0.7.0b3"


class _Stopping:
    interrupt = False


def apply(version=None):
    """Patch the imported SecantusDB if it is the pinned version; return whether it was patched.

    :param version: the version to check instead of the installed one (for tests).
    """
    import secantus
    from secantus import commands, deadline

    version = version or secantus.__version__
    if version != PINNED_VERSION:
        log.warning("SecantusDB %s is not %s: not patching it; concurrent transactions may stall and a "
                    "stop may wait for running commands (docs/DESIGN.md, emulator gaps)", version, PINNED_VERSION)
        return False
    if getattr(commands._run_txn_statement, "logstore_patched", False):
        return True
    commands._run_txn_statement = _releasing_cursors(commands._run_txn_statement)
    deadline.check = _interruptible(deadline.check, deadline.MaxTimeMSExpired)
    deadline.check_now = _interruptible(deadline.check_now, deadline.MaxTimeMSExpired)
    log.info("SecantusDB %s patched: a transaction's cursors are released after each statement; "
             "a stop interrupts running commands", version)
    return True


def interrupt_commands():
    """From now on, every command still running fails at its next time-limit check."""
    _Stopping.interrupt = True


def wake_listener(server):
    """Wake ``server``'s thread blocked in ``accept()`` (it then sees the stop and returns); call
    before ``server.stop()``. Nothing to do for a server without that socket."""
    listening = getattr(server, "_socket", None)
    if listening is not None:
        with contextlib.suppress(OSError):
            listening.shutdown(socket.SHUT_RDWR)


def _releasing_cursors(run_statement):
    def run_txn_statement(txn, handler, doc, ctx):
        # The transaction's mutex (re-entrant) is held across the statement and the reset, as
        # SecantusDB holds it for every use of the transaction's WiredTiger session.
        with txn.mutex:
            try:
                return run_statement(txn, handler, doc, ctx)
            finally:
                handle = txn.handle
                if handle is not None and not handle.closed:
                    for cursor in list(handle.cursors.values()):
                        with contextlib.suppress(Exception):
                            cursor.reset()

    run_txn_statement.logstore_patched = True
    return run_txn_statement


def _interruptible(check, expired):
    def interruptible_check():
        if _Stopping.interrupt:
            raise expired("interrupted: the server is shutting down")
        check()

    return interruptible_check
