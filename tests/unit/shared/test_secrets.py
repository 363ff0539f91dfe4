from services.ingest.settings import IngestSettings
from shared.runtime.redis_client import redacted_url


def test_redacted_url_hides_the_password_and_keeps_the_rest() -> None:
    assert redacted_url("redis://ingest:s3cret@redis:6379/0") == "redis://ingest:***@redis:6379/0"
    assert redacted_url("rediss://:s3cret@redis:6380/0") == "rediss://***@redis:6380/0"
    assert redacted_url("redis://redis:6379/0") == "redis://redis:6379/0"


def test_settings_never_show_secrets_in_their_repr() -> None:
    settings = IngestSettings(redis_password="s3cret", api_tokens="t0ken-a,t0ken-b")
    shown = repr(settings) + str(settings.model_dump())
    assert "s3cret" not in shown
    assert "t0ken" not in shown
    assert settings.token_set() == {"t0ken-a", "t0ken-b"}


def test_cluster_urls_are_recognised_and_stripped_for_the_client() -> None:
    settings = IngestSettings(redis_url="rediss+cluster://node-1:6379/0")
    assert settings.cluster
    assert settings.node_url == "rediss://node-1:6379/0"
    assert not IngestSettings(redis_url="redis://node-1:6379/0").cluster


def test_rediss_urls_make_tls_connections() -> None:
    from redis.asyncio.connection import SSLConnection

    from shared.runtime.redis_client import make_client

    client = make_client(IngestSettings(redis_url="rediss://redis.example:6380/0", redis_password="pw"))
    assert issubclass(client.connection_pool.connection_class, SSLConnection)
    assert client.connection_pool.connection_kwargs["password"] == "pw"
