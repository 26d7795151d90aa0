"""Scale-out on one machine, standing in for a cluster: 3 replicas of the service behind HAProxy
(deploy/local/haproxy.cfg), each scraped by Prometheus (deploy/local/prometheus.yml).

Under a steady load one replica is killed (SIGKILL, requests in flight): no request fails,
Prometheus shows the target down, the other two carry the load, and the replica, started again,
rejoins. Marked ``container`` (about a minute); .ci/run installs haproxy and prometheus.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Iterator

import cv2
import httpx
import pytest
import yaml
from websockets.sync.client import connect

from ._proc import clean_env, free_port, http_get, running, wait_until
from ._replicas import Replica, SteadyLoad, haproxy_stats
from .conftest import REPO, binary

pytestmark = [pytest.mark.container, pytest.mark.timeout(900)]

LOCAL = REPO / "deploy/local"
PHOTO = REPO / "tests/fixtures/photos/astronaut.png"
CLIENTS = 3  # closed-loop clients: a steady load that keeps every replica busy on 2 cores
HAPROXY_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def photo_jpeg() -> bytes:
    """The astronaut as a JPEG (~30 KB): whole in HAProxy's buffer, so a request can be replayed."""
    image = cv2.imread(str(PHOTO))
    assert image is not None
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Replica]]:
    logs = tmp_path_factory.mktemp("replicas")
    env = {"FER_ORT_INTRA_OP_THREADS": "1", "FER_LOG_FORMAT": "json"}
    group = [Replica(f"replica{i}", free_port(), logs / f"replica{i}.log", env) for i in (1, 2, 3)]
    try:
        for replica in group:  # all load their model at once
            replica.start()
        for replica in group:
            replica.wait_ready()
        yield group
    finally:
        for replica in group:
            replica.stop()


@pytest.fixture(scope="module")
def balancer(replicas: list[Replica], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(service URL, stats URL) of HAProxy run with deploy/local/haproxy.cfg as it is."""
    haproxy = binary("haproxy", "apt-get install haproxy (.ci/run does this)")
    lb, stats = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    addresses = {f"FER_REPLICA_{i}": r.address for i, r in enumerate(replicas, 1)}
    env = clean_env(FER_LB_BIND=lb, FER_LB_STATS_BIND=stats, **addresses)
    work = tmp_path_factory.mktemp("haproxy")
    argv = [haproxy, "-db", "-f", str(LOCAL / "haproxy.cfg")]
    stats_url = f"http://{stats}/stats"
    with running(argv, env=env, cwd=work, log=work / "haproxy.log", ready_url=stats_url):
        wait_until(lambda: all(status(stats_url, r) == "UP" for r in replicas), 30, "HAProxy: every replica UP")
        yield f"http://{lb}", stats_url


@pytest.fixture(scope="module")
def prometheus_url(replicas: list[Replica], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus with deploy/local/prometheus.yml, its targets swapped for the test's ports."""
    prometheus = binary("prometheus", "apt-get install prometheus (.ci/run does this)")
    config = yaml.safe_load((LOCAL / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s")
    [job] = config["scrape_configs"]
    job["static_configs"] = [{"targets": [r.address for r in replicas]}]
    work = tmp_path_factory.mktemp("prometheus")
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    argv = [prometheus, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}"]
    argv += [f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    url = f"http://127.0.0.1:{port}"
    with running(argv, env=clean_env(), cwd=work, log=work / "prometheus.log", ready_url=f"{url}/-/ready"):
        yield url


def status(stats_url: str, replica: Replica) -> str:
    """HAProxy's state of a replica: UP, DOWN, or a transition such as "UP 1/2"."""
    return haproxy_stats(stats_url)[f"replicas/{replica.name}"]["status"]


def up(prometheus_url: str, replica: Replica) -> float | None:
    """Prometheus' `up` of the replica's target (None before its first scrape)."""
    query = urllib.parse.urlencode({"query": f'up{{job="fer",instance="{replica.address}"}}'})
    code, body = http_get(f"{prometheus_url}/api/v1/query?{query}")
    assert code == 200, body[:300]
    result = json.loads(body)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_replicas_pass_websocket_streams_and_request_ids(balancer: tuple[str, str], photo_jpeg: bytes) -> None:
    lb_url, _stats = balancer
    # HAProxy gives a request without an id one of its own (a uuid with dashes); the replica keeps it.
    assert HAPROXY_UUID.fullmatch(httpx.get(f"{lb_url}/healthz", timeout=10).headers["X-Request-ID"])
    with connect(lb_url.replace("http://", "ws://") + "/stream", open_timeout=10) as stream:
        for frame in (1, 2):
            stream.send(photo_jpeg)
            reply = json.loads(stream.recv(timeout=60))
            assert reply["frame_id"] == frame and len(reply["faces"]) == 1, reply


def counts(group: list[Replica]) -> dict[str, int]:
    return {r.name: int(r.predictions()) for r in group}


def kill_and_watch(victim: Replica, survivors: list[Replica], stats_url: str, prometheus_url: str) -> dict:
    """Kill the victim; wait until HAProxy and Prometheus see it down and the others took over."""
    victim.kill()
    wait_until(lambda: status(stats_url, victim) == "DOWN", 30, "HAProxy: killed replica DOWN")
    wait_until(lambda: up(prometheus_url, victim) == 0, 30, "Prometheus: killed replica's target down")
    at_down = counts(survivors)
    took_over = lambda: all(c >= at_down[n] + 10 for n, c in counts(survivors).items())  # noqa: E731
    wait_until(took_over, 120, "the other two replicas serving the load")
    return {"survivors once seen down": at_down, "survivors after": counts(survivors)}


def restart_and_watch(victim: Replica, stats_url: str, prometheus_url: str) -> dict:
    """Start the victim again on its port; HAProxy's checks put it back by themselves."""
    victim.start()
    victim.wait_ready()
    wait_until(lambda: status(stats_url, victim) == "UP", 30, "HAProxy: restarted replica UP")
    wait_until(lambda: up(prometheus_url, victim) == 1, 30, "Prometheus: restarted replica's target up")
    wait_until(lambda: victim.predictions() >= 5, 120, "the restarted replica serving again")
    return {"restarted replica": int(victim.predictions())}


def test_replicas_lose_no_request_when_one_is_killed(
    replicas: list[Replica],
    balancer: tuple[str, str],
    prometheus_url: str,
    photo_jpeg: bytes,
    report: Callable[[str], None],
) -> None:
    lb_url, stats_url = balancer
    victim, survivors = replicas[1], [replicas[0], replicas[2]]
    assert all(up(prometheus_url, r) in (None, 1) for r in replicas)
    with SteadyLoad(lb_url, photo_jpeg, CLIENTS) as load:
        wait_until(lambda: all(c >= 5 for c in counts(replicas).values()), 120, "every replica serving")
        phases: dict = {"before the kill": counts(replicas)}
        phases |= kill_and_watch(victim, survivors, stats_url, prometheus_url)
        phases |= restart_and_watch(victim, stats_url, prometheus_url)
    backend = haproxy_stats(stats_url)["replicas/BACKEND"]
    report(
        f"kill-a-replica: {load.sent} /predict sent through HAProxy, {load.outcomes['200']} answered 200, "
        f"{load.failed} failed; HAProxy retries {backend['wretr']}, redispatches {backend['wredis']}; "
        f"/predict served per replica: {phases}"
    )
    assert load.failed == 0, f"{load.outcomes}: {load.first_failures}"
    assert load.outcomes["200"] == load.sent > 0
