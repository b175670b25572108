"""Entry point. gunicorn imports ``app``; ``python app.py`` runs the service on this machine.

With MONGO_URL unset, ``python app.py`` first starts the local database (SecantusDB, data under
./data) and stops it again on exit.
"""
from dotenv import load_dotenv

load_dotenv()

if __name__ == "__main__":
    from logstore.launcher import main

    raise SystemExit(main())

from logstore import create_app  # noqa: E402  (only after .env is loaded)

app = create_app()
