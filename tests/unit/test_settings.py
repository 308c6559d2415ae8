import pytest

from colonnade.runtime.settings import Settings, SettingsError, parse_cache_nodes, parse_cache_url


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.grpc_port == 50051
    assert settings.database_url.startswith("postgresql://")
    assert parse_cache_url(settings.cache_url) == ("127.0.0.1", 11211)


def test_reads_every_variable() -> None:
    settings = Settings.from_env(
        {
            "SERVICE_NAME": "catalog",
            "GRPC_PORT": "0",
            "DATABASE_URL": "postgres://u:p@db.internal:5433/catalog",
            "CACHE_URL": "memcached://cache.internal:11212",
            "DB_POOL_MIN": "2",
            "DB_POOL_MAX": "20",
            "LOG_LEVEL": "debug",
            "LOG_ACCESS": "off",
            "SHUTDOWN_GRACE_SECONDS": "2.5",
            "GRPC_REFLECTION": "false",
        }
    )
    assert settings.service_name == "catalog"
    assert settings.grpc_port == 0
    assert settings.db_pool_max == 20
    assert settings.log_level == "DEBUG"
    assert settings.log_access is False
    assert settings.shutdown_grace_seconds == 2.5
    assert settings.reflection is False
    assert parse_cache_url(settings.cache_url) == ("cache.internal", 11212)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GRPC_PORT": "http"}, "GRPC_PORT"),
        ({"GRPC_PORT": "70000"}, "GRPC_PORT"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"CACHE_URL": "redis://x:1"}, "CACHE_URL"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"LOG_ACCESS": "maybe"}, "LOG_ACCESS"),
        ({"DB_POOL_MIN": "5", "DB_POOL_MAX": "2"}, "DB_POOL_MIN"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_a_malformed_database_url_is_echoed_without_its_password() -> None:
    """The message reaches the process's log; the URL's password must not."""
    with pytest.raises(SettingsError, match="DATABASE_URL") as err:
        Settings.from_env({"DATABASE_URL": "postgress://app:pw-Xq81/zz@db.internal:5432/c"})
    assert "pw-Xq81" not in str(err.value)
    assert "postgress://app:***@db.internal:5432/c" in str(err.value)


def test_cache_can_be_switched_off() -> None:
    assert parse_cache_url("none") is None
    assert parse_cache_url("") is None


def test_settings_are_immutable() -> None:
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.grpc_port = 1  # type: ignore[misc]


def test_iam_auth_needs_a_region() -> None:
    with pytest.raises(SettingsError, match="AWS_REGION"):
        Settings.from_env({"DB_IAM_AUTH": "1"})


def test_iam_auth_signs_a_token_per_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from colonnade.runtime.db import connect_options

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    settings = Settings.from_env(
        {
            "DB_IAM_AUTH": "true",
            "AWS_REGION": "eu-west-1",
            "DATABASE_URL": "postgresql://catalog@db.cluster.local:5432/colonnade?sslmode=verify-full",
        }
    )
    password = connect_options(settings)["password"]
    token = password()
    assert token.startswith("db.cluster.local:5432/?Action=connect&DBUser=catalog")
    assert "X-Amz-Signature=" in token and "eu-west-1" in token
    assert connect_options(Settings.from_env({})) == {}


def test_statement_cache_can_be_turned_off_for_rds_proxy() -> None:
    from colonnade.runtime.db import connect_options

    settings = Settings.from_env({"DB_STATEMENT_CACHE_SIZE": "0"})
    assert settings.db_statement_cache_size == 0
    assert connect_options(settings) == {"statement_cache_size": 0}
    with pytest.raises(SettingsError, match="DB_STATEMENT_CACHE_SIZE"):
        Settings.from_env({"DB_STATEMENT_CACHE_SIZE": "-1"})


def test_cache_url_lists_several_nodes() -> None:
    assert parse_cache_nodes("memcached://a:11211,b:11212, c ,[::1]:11213") == [
        ("a", 11211),
        ("b", 11212),
        ("c", 11211),
        ("::1", 11213),
    ]
    assert parse_cache_nodes("none") == []
    settings = Settings.from_env({"CACHE_URL": "memcached://a:1,b:2"})
    assert parse_cache_nodes(settings.cache_url) == [("a", 1), ("b", 2)]


@pytest.mark.parametrize(
    "url", ["memcached://a:1,", "memcached://a:1,a:1", "memcached://a:x", "memcached://a:1/db"]
)
def test_bad_node_lists_name_the_variable(url: str) -> None:
    with pytest.raises(SettingsError, match="CACHE_URL"):
        Settings.from_env({"CACHE_URL": url})


def test_a_single_node_reader_refuses_a_list() -> None:
    with pytest.raises(SettingsError, match="2 nodes"):
        parse_cache_url("memcached://a:1,b:2")


def test_cache_tls_and_discovery_settings() -> None:
    defaults = Settings.from_env({})
    assert (defaults.cache_tls, defaults.cache_discovery, defaults.db_migrate) == (
        False,
        False,
        True,
    )
    assert defaults.cache_discovery_interval == 60.0
    settings = Settings.from_env(
        {
            "CACHE_URL": "memcached://colonnade.abc123.cfg.euw1.cache.amazonaws.com:11211",
            "CACHE_TLS": "true",
            "CACHE_TLS_CA_FILE": "/etc/ssl/certs/ca-certificates.crt",
            "CACHE_TLS_SERVER_NAME": "colonnade.abc123.cfg.euw1.cache.amazonaws.com",
            "CACHE_DISCOVERY": "true",
            "CACHE_DISCOVERY_INTERVAL": "30",
            "DB_MIGRATE": "false",
        }
    )
    assert settings.cache_tls and settings.cache_discovery and not settings.db_migrate
    assert settings.cache_tls_ca_file == "/etc/ssl/certs/ca-certificates.crt"
    assert settings.cache_discovery_interval == 30.0
    names = Settings.variable_names()
    for name in ("CACHE_TLS", "CACHE_TLS_CA_FILE", "CACHE_TLS_SERVER_NAME", "DB_MIGRATE"):
        assert name in names
    assert "CACHE_DISCOVERY_INTERVAL" in names


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CACHE_TLS": "maybe"}, "CACHE_TLS"),
        ({"CACHE_TLS_CA_FILE": "/ca.pem"}, "CACHE_TLS_CA_FILE"),
        ({"CACHE_DISCOVERY": "true", "CACHE_URL": "memcached://a:1,b:2"}, "CACHE_DISCOVERY"),
        ({"CACHE_DISCOVERY_INTERVAL": "0"}, "CACHE_DISCOVERY_INTERVAL"),
        ({"DB_MIGRATE": "sometimes"}, "DB_MIGRATE"),
    ],
)
def test_bad_cache_and_migrate_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_access_log_sample() -> None:
    assert Settings.from_env({}).log_access_sample == 1.0
    assert Settings.from_env({"LOG_ACCESS_SAMPLE": "0.01"}).log_access_sample == 0.01
    assert "LOG_ACCESS_SAMPLE" in Settings.variable_names()
    with pytest.raises(SettingsError, match="LOG_ACCESS_SAMPLE"):
        Settings.from_env({"LOG_ACCESS_SAMPLE": "2"})


def test_cache_local_ttl() -> None:
    assert Settings.from_env({}).cache_local_ttl == 0.0
    assert Settings.from_env({"CACHE_LOCAL_TTL": "500ms"}).cache_local_ttl == 0.5
    assert "CACHE_LOCAL_TTL" in Settings.variable_names()
    for bad in ("-1", "2m"):
        with pytest.raises(SettingsError, match="CACHE_LOCAL_TTL"):
            Settings.from_env({"CACHE_LOCAL_TTL": bad})


def test_workers_and_their_admin_ports() -> None:
    settings = Settings.from_env({"WORKERS": "4", "WORKER_INDEX": "2", "ADMIN_PORT": "9100"})
    assert (settings.workers, settings.worker_index) == (4, 2)
    # Each worker serves its own metrics: ADMIN_PORT + its index.
    assert settings.observability().admin_port == 9102
    alone = Settings.from_env({"ADMIN_PORT": "9100"})
    assert (alone.workers, alone.worker_index, alone.observability().admin_port) == (1, -1, 9100)
    assert Settings.from_env({"WORKERS": "2", "ADMIN_PORT": "0"}).observability().admin_port == 0
    assert "WORKERS" in Settings.variable_names()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WORKERS": "0"}, "WORKERS"),
        ({"WORKERS": "2", "GRPC_PORT": "0"}, "GRPC_PORT"),
        ({"WORKERS": "2", "WORKER_INDEX": "2"}, "WORKER_INDEX"),
    ],
)
def test_bad_worker_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)
