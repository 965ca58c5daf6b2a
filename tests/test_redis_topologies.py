"""Redis the way teams run it: TLS, Sentinel, Cluster, and a managed Redis that refuses
commands (docs/several-hosts.md, "Redis: TLS, Sentinel and Cluster").

Every server is a real process (tests/support/redis_server.py): a TLS port with a
certificate made here, a three-master cluster, and a master, a replica and a Sentinel
that fails over while threads render pages.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from redis.cluster import RedisCluster, key_slot

from wechat_middleware import StoreError, WeChat
from wechat_middleware.doctor import doctor
from wechat_middleware.errors import ConfigError
from wechat_middleware.signing import server_signature
from wechat_middleware.stores import open_store
from wechat_middleware.stores.redis import RedisStore
from wechat_middleware.testing import FakeWeChat
from wechat_middleware.testing.user_agents import DESKTOP_UA

from .conftest import MakeWeChat
from .support.apps import AppClient
from .support.redis_server import RedisClusterGroup, RedisServer, SentinelGroup, wait_for
from .support.site import page as site_page

PASSWORD = "s3cret-pa55"
TICKET = "cgi-bin/ticket/getticket"


def fetches(fake: FakeWeChat) -> tuple[int, int]:
    return fake.calls("cgi-bin/stable_token"), fake.calls(TICKET)


def page(client: AppClient) -> tuple[int, object]:
    answer = client.get("/page", ua=DESKTOP_UA)
    return answer.status, answer.json()["signature"] if answer.status == 200 else None


def server_check(client: AppClient) -> int:
    """A store-backed step: the server check claims its timestamp and nonce in the store."""
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex
    signature = server_signature("server-check-token", timestamp, nonce)
    query = f"signature={signature}&timestamp={timestamp}&nonce={nonce}&echostr=e"
    return client.get(f"/wechat/verify?{query}").status


# URLs.


@pytest.mark.parametrize(
    ("url", "description"),
    [
        ("redis+sentinel://:pw@s1:26379,[::1]:26380/mymaster", "s1:26379,[::1]:26380/mymaster/0"),
        ("redis+sentinel://app:pw@s1:26379/my.master/3", "s1:26379/my.master/3"),
        ("redis+cluster://:pw@n1:6379,n2:6380/", "n1:6379,n2:6380/"),
        ("REDIS+CLUSTER://n1:6379", "n1:6379/"),
    ],
)
def test_sentinel_and_cluster_urls_name_the_store_without_the_password(
    url: str, description: str
) -> None:
    from wechat_middleware.stores.redis_urls import parse

    topology = parse(url)
    assert topology.description.endswith("://" + description)
    assert topology.password in (None, "pw") and "pw" not in topology.description


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://:S3cret@s1:26379/",  # no service name
        "redis+sentinel://:S3cret@s1/mymaster",  # no port
        "redis+sentinel://:S3cret@s1:99999/mymaster",  # port out of range
        "redis+sentinel://:S3cret@s1:26379/mymaster/zero",  # db not a number
        "redis+sentinel://:S3cret@s1:26379,/mymaster",  # an empty host
        "redis+sentinel://:S3cret@s1:26379/mymaster?db=1",  # a query string
        "redis+sentinel://S3cret@s1:26379/mymaster",  # a password without its ":"
        "redis+cluster://:S3cret@n1:6379/0",  # a database on a cluster
        "redis+cluster://:S3cret@",  # no host
    ],
)
def test_a_malformed_sentinel_or_cluster_url_is_a_config_error_without_the_password(
    url: str,
) -> None:
    with pytest.raises(ConfigError) as caught:
        open_store(url)
    message = str(caught.value)
    assert message.startswith("WECHAT_STORE=") and "S3cret" not in message
    assert "host:port[,host:port...]/" in message


# TLS.


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (its own CA), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "redis.crt", directory / "redis.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def test_rediss_url_talks_tls_and_verifies_the_certificate(certificate: tuple[str, str]) -> None:
    cert, _ = certificate
    try:
        server = RedisServer(password=PASSWORD, tls=certificate).start()
    except RuntimeError as exc:
        if "TLS support" in str(exc):  # e.g. a Valkey built without it (REDIS_SERVER)
            pytest.skip("this redis-server is built without TLS")
        raise
    try:
        base = f"rediss://{server.auth}127.0.0.1:{server.tls_port}/0"
        store = open_store(f"{base}?ssl_ca_certs={cert}")
        store.set("token", "abc", ttl=60)
        assert store.get("token") == "abc"
        store.close()
        # The system's CAs do not know this certificate: refused, and said so.
        untrusted = open_store(base)
        with pytest.raises(StoreError, match=r"unreachable.*certificate verify failed") as caught:
            untrusted.get("token")
        assert PASSWORD not in str(caught.value)
        untrusted.close()
    finally:
        server.close()


# A managed Redis that refuses what the store needs.


def acl_user(rules: str) -> list[str]:
    """redis-server options adding the user ``app`` (password ``pw``) with ``rules``."""
    return ["--user", "app", "on", ">pw", *rules.split()]


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (acl_user("~* &* +@all -evalsha"), "EVALSHA or SCRIPT LOAD"),
        (acl_user("~* &* +@all -@scripting"), "EVALSHA or SCRIPT LOAD"),
        (acl_user("~* &* +@all -subscribe"), "SUBSCRIBE or PUBLISH"),
        (acl_user("~* resetchannels +@all"), "SUBSCRIBE or PUBLISH"),
        (["--rename-command", "EVALSHA", ""], "EVALSHA or SCRIPT LOAD"),
        (["--rename-command", "SUBSCRIBE", "subscribe-x1"], "SUBSCRIBE or PUBLISH"),
    ],
    ids=[
        "acl-evalsha",
        "acl-scripting",
        "acl-subscribe",
        "acl-channels",
        "renamed-evalsha",
        "renamed-subscribe",
    ],
)
def test_a_redis_refusing_scripts_or_subscribe_fails_when_the_wechat_is_built(
    fake_wechat: FakeWeChat, args: list[str], refused: str
) -> None:
    from .conftest import fake_config

    with RedisServer(args=args) as server:
        user = "app:pw@" if "--user" in args else ""
        url = f"redis://{user}127.0.0.1:{server.port}/0"
        with pytest.raises(StoreError) as caught:
            WeChat(fake_config(fake_wechat, store=url))
    message = str(caught.value)
    assert f"refuses {refused}" in message and "ACL:" in message
    assert ":pw@" not in message


def test_doctor_fails_the_store_step_of_a_redis_refusing_scripts(
    wechat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with RedisServer(args=acl_user("~* &* +@all -@scripting")) as server:
        monkeypatch.setenv("WECHAT_STORE", f"redis://app:pw@127.0.0.1:{server.port}/0")
        checks = {check.name: check for check in doctor()}
    assert checks["store"].status == "FAIL"
    assert "refuses EVALSHA or SCRIPT LOAD" in checks["store"].detail
    assert checks["access token"].status == "SKIP"


def test_doctor_says_a_redis_runs_the_scripts_and_publish_subscribe(
    wechat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("WECHAT_STORE", redis_url)
    store = next(check for check in doctor() if check.name == "store")
    assert store.status == "OK" and "publish/subscribe allowed" in store.detail


def test_an_unreachable_redis_still_lets_the_app_start(fake_wechat: FakeWeChat) -> None:
    """The check is for a Redis that answers: one that is down may be back by the first
    request (docs/several-hosts.md, "Redis down or hung")."""
    from .conftest import fake_config

    with RedisServer() as server:
        url = server.url + "/0"
    wechat = WeChat(fake_config(fake_wechat, store=url))
    wechat.close()


# Cluster.


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterGroup]:
    with RedisClusterGroup(password=PASSWORD) as group:
        yield group


@pytest.mark.slow
def test_on_a_cluster_every_key_of_an_app_shares_one_slot_and_one_fetch_serves_all(
    cluster: RedisClusterGroup, make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    hosts = [make_wechat(cluster.url) for _ in range(2)]
    clients = [AppClient("wsgi", wechat) for wechat in hosts]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(page, clients * 8))
        assert all(status == 200 and signature for status, signature in answers)
        assert all(server_check(client) == 200 for client in clients)
    finally:
        for client in clients:
            client.close()
    assert fetches(fake_wechat) == (1, 1)
    # A refresh on one host is heard by the other before set_globally returns.
    hosts[1].tokens.local_ttl = 3600
    hosts[1].tokens.jsapi_ticket()
    hosts[0].tokens.set_globally(ticket="ticket-from-host-0")
    assert hosts[1].tokens.jsapi_ticket() == "ticket-from-host-0"
    names = hosts[0].store.client.keys(target_nodes=RedisCluster.ALL_NODES)  # type: ignore[attr-defined]
    ours = [name for name in names if hosts[0].keys.prefix in name]
    assert len(ours) >= 3  # the token, the ticket, the server check's claim
    assert len({key_slot(name.encode()) for name in ours}) == 1


@pytest.mark.slow
def test_a_cluster_store_keeps_the_store_contract(cluster: RedisClusterGroup) -> None:
    store = open_store(cluster.url)
    assert isinstance(store, RedisStore)
    assert PASSWORD not in repr(store)
    try:
        for app in ("{wx1:a}", "{wx2:b}", "{wx3:c}"):  # three slots, likely three nodes
            store.set(f"{app}token", "abc", ttl=60)
            store.delete(f"{app}token", only_if="other")
            assert store.get(f"{app}token") == "abc"
            store.delete(f"{app}token", only_if="abc")
            assert store.get(f"{app}token") is None
            assert [store.incr(f"{app}n", ttl=60) for _ in range(2)] == [1, 2]
            assert store.acquire_lock(f"{app}lock", "a", ttl=30)
            assert not store.acquire_lock(f"{app}lock", "b", ttl=30)
            store.release_lock(f"{app}lock", "a")
            assert store.acquire_lock(f"{app}lock", "b", ttl=30)
    finally:
        store.close()


def test_a_cluster_that_no_node_answers_is_a_store_error_naming_it() -> None:
    with RedisServer() as server:
        url = f"redis+cluster://:{PASSWORD}@127.0.0.1:{server.port}/"
    with pytest.raises(StoreError, match="unreachable") as caught:
        open_store(url)
    assert f"redis+cluster://127.0.0.1:{server.port}/" in str(caught.value)
    assert PASSWORD not in str(caught.value)


# Sentinel.


@pytest.mark.slow
@pytest.mark.parametrize("kill", [False, True], ids=["forced", "master-dies"])
def test_a_sentinel_failover_under_load_renders_every_page_and_fetches_once(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat, kill: bool
) -> None:
    """Pages keep rendering through the election; store-backed steps may answer 503
    until the new master is elected, and none after."""
    with SentinelGroup(password=PASSWORD) as group:
        hosts = [make_wechat(group.url + "/0") for _ in range(2)]
        clients = [AppClient("wsgi", wechat) for wechat in hosts]
        try:
            assert all(page(client)[1] for client in clients)
            with group.master.client() as master:
                master.wait(1, 5000)  # the replica has the token and the ticket
            stop = threading.Event()
            pages: list[tuple[int, object]] = []
            checks: list[int] = []

            def load(client: AppClient) -> None:
                while not stop.is_set():
                    pages.append(page(client))
                    checks.append(server_check(client))

            threads = [threading.Thread(target=load, args=(c,)) for c in clients * 2]
            for thread in threads:
                thread.start()
            time.sleep(0.3)
            old_master = group.master_port()
            group.fail_over(kill=kill)
            assert group.master_port() != old_master
            time.sleep(0.5)
            stop.set()
            for thread in threads:
                thread.join(10)
            assert pages and all(status == 200 and sig for status, sig in pages)
            assert set(checks) <= {200, 503}
            assert fetches(fake_wechat) == (1, 1)
            # After the election: every store-backed step answers again.
            assert [server_check(client) for client in clients * 3] == [200] * 6
            # Both hosts' subscriptions follow Sentinel to the new master, where a
            # publisher counts them: a change returns once the other host heard it.
            with (group.replica or group.master).client() as new_master:
                channel = hosts[0].keys.changed
                wait_for(lambda: new_master.pubsub_numsub(channel)[0][1] == 2)
            hosts[1].tokens.local_ttl = 3600
            hosts[0].tokens.set_globally(ticket="ticket-after-the-failover")
            assert hosts[1].tokens.jsapi_ticket() == "ticket-after-the-failover"
            fake_wechat.advance(7201)  # the next ticket is fetched, stored and shared
            assert page(clients[0])[1] and page(clients[1])[1]
        finally:
            for client in clients:
                client.close()
    assert fetches(fake_wechat) == (2, 2)


def documented_acl() -> str:
    """The ACL rules docs/several-hosts.md gives "the least a user needs", as written."""
    text = " ".join(site_page("docs/several-hosts.md").split())
    found = re.search(r"`ACL SETUSER app on >password ([^`]+)`", text)
    assert found, "docs/several-hosts.md no longer gives the ACL"
    return found.group(1)


def test_the_commands_the_docs_list_are_all_the_store_needs(
    make_wechat: MakeWeChat, fake_wechat: FakeWeChat
) -> None:
    with RedisServer(args=acl_user(documented_acl())) as server:
        hosts = [make_wechat(f"redis://app:pw@127.0.0.1:{server.port}/0") for _ in range(2)]
        client = AppClient("wsgi", hosts[0])
        assert page(client)[1] and server_check(client) == 200
        client.close()
        hosts[1].tokens.local_ttl = 3600
        hosts[1].tokens.jsapi_ticket()
        hosts[0].tokens.set_globally(ticket="ticket-from-host-0")
        assert hosts[1].tokens.jsapi_ticket() == "ticket-from-host-0"
        assert hosts[0].tokens.access_token() == hosts[1].tokens.access_token()
    assert fetches(fake_wechat) == (1, 1)
