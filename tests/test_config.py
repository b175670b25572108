import pytest

from logstore.config import ConfigError, Settings


def test_defaults_match_the_spec():
    settings = Settings.from_env({})
    assert settings.mongo_url is None and not settings.production
    assert settings.max_body_bytes == 10 * 1024 * 1024 and settings.max_actions == 50_000


def test_mongodb_uri_is_the_heroku_name_for_mongo_url():
    assert Settings.from_env({"MONGODB_URI": "mongodb://h/db"}).mongo_url == "mongodb://h/db"
    assert Settings.from_env({"MONGO_URL": "mongodb://a/x", "MONGODB_URI": "mongodb://b/y"}).mongo_url == "mongodb://a/x"


@pytest.mark.parametrize("env", [{"DYNO": "web.1"}, {"LOGSTORE_ENV": "production"}])
def test_production_without_mongo_url_refuses_to_start(env):
    with pytest.raises(ConfigError, match="MONGO_URL"):
        Settings.from_env(env)


def test_limits_are_read_and_checked():
    settings = Settings.from_env({"LOGSTORE_MAX_BODY_MB": "2", "LOGSTORE_MAX_ACTIONS": "10"})
    assert (settings.max_body_bytes, settings.max_actions) == (2 * 1024 * 1024, 10)
    with pytest.raises(ConfigError):
        Settings.from_env({"LOGSTORE_MAX_ACTIONS": "lots"})
    with pytest.raises(ConfigError):
        Settings.from_env({"LOGSTORE_MAX_BODY_MB": "-1"})


def test_create_app_reads_the_environment(monkeypatch, mongo_url):
    from logstore import create_app

    monkeypatch.setenv("MONGO_URL", mongo_url.rstrip("/") + "/logstore_config_test")
    monkeypatch.setenv("LOGSTORE_MAX_ACTIONS", "7")
    app = create_app()
    assert app.extensions["logstore.settings"].max_actions == 7
    assert app.extensions["logstore.db"].name == "logstore_config_test"
    app.extensions["logstore.db"].client.drop_database("logstore_config_test")


def test_config_fields_are_named_after_their_variables():
    """A field says which variable sets it (the variables are the contract; the fields follow)."""
    settings = Settings.from_env({"LOGSTORE_DB_TIMEOUT_MS": "700", "LOGSTORE_DB_SOCKET_TIMEOUT_MS": "9000",
                                  "GUNICORN_THREADS": "6", "LOGSTORE_QUERY_TIMEOUT_MS": "800"})
    assert (settings.db_timeout_ms, settings.db_socket_timeout_ms, settings.gunicorn_threads,
            settings.query_timeout_ms) == (700, 9000, 6, 800)
