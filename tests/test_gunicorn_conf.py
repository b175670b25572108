"""gunicorn.conf.py reads the environment the way Heroku sets it."""
import runpy

import pytest

from logstore.launcher import ROOT


@pytest.fixture
def load(monkeypatch):
    def load(**env):
        for name in ("PORT", "WEB_CONCURRENCY", "GUNICORN_TIMEOUT", "GUNICORN_GRACEFUL_TIMEOUT"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return load


def test_heroku_port_and_concurrency(load):
    conf = load(PORT="31337", WEB_CONCURRENCY="5")
    assert conf["bind"] == "0.0.0.0:31337" and conf["workers"] == 5


def test_defaults_suit_heroku(load):
    conf = load()
    assert conf["bind"] == "0.0.0.0:5000" and conf["workers"] == 2
    assert conf["accesslog"] is None  # the app writes its own JSON line per request
    assert 0 < conf["graceful_timeout"] < 30  # Heroku kills 30 s after SIGTERM


def test_on_starting_stops_a_production_start_without_mongo_url(load, monkeypatch):
    from logstore.config import ConfigError

    conf = load()
    monkeypatch.setenv("DYNO", "web.1")
    monkeypatch.setenv("MONGO_URL", "")
    monkeypatch.setenv("MONGODB_URI", "")
    with pytest.raises(ConfigError):
        conf["on_starting"](None)
