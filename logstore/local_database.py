"""``python -m logstore.local_database [SecantusDB options]``: the local database, patched for logstore.

SecantusDB's own command line (the same options), after ``secantus_patches.apply``, with a bounded
stop: on SIGTERM or SIGINT the commands still running are interrupted and storage is closed (a
checkpoint); if that has not finished within ``STOP_SECONDS``, the process exits anyway. Nothing
acknowledged is lost either way: SecantusDB writes every commit to WiredTiger's journal before it
answers, and the next start replays the journal.
"""
from __future__ import annotations

import logging
import os
import sys
import threading

from . import secantus_patches
from .requestlog import configure_logging

log = logging.getLogger("logstore.local_database")  # also when run as __main__

STOP_SECONDS = 2.5


def main(argv=None):
    configure_logging()
    # SecantusDB's command line configures the root logger too; our lines are already JSON on stdout.
    logging.getLogger("logstore").propagate = False
    from secantus import SecantusDBServer
    from secantus.cli import main as secantus_main

    secantus_patches.apply()
    bound_stop(SecantusDBServer, STOP_SECONDS)
    return secantus_main(argv)


def bound_stop(server_class, seconds):
    """Make ``server_class.stop`` interrupt running commands, and exit the process if it takes more
    than ``seconds``."""
    stop = server_class.stop

    def bounded_stop(self):
        secantus_patches.interrupt_commands()
        secantus_patches.wake_listener(self)
        # stop runs here, on the thread that opened the storage (its close needs that thread's session).
        watchdog = threading.Timer(seconds, _exit_now, args=(seconds,))
        watchdog.daemon = True
        watchdog.start()
        try:
            stop(self)
        finally:
            watchdog.cancel()

    server_class.stop = bounded_stop


def _exit_now(seconds):
    log.warning("the database did not stop within %.0f s (a command is still running); exiting without "
                "waiting: the journal holds every acknowledged write", seconds)
    logging.shutdown()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
