"""The Asterisk nodes a dialer places calls on, and how many calls each carries right now."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from voxlancer.config import Settings
from voxlancer.dialer.ari import AriClient, AriConfig


@dataclass
class Node:
    """One Asterisk the dialer places calls on, with the most calls it may carry at once."""

    ari: AriClient
    limit: int

    @property
    def name(self) -> str:
        return self.ari.config.url

    @property
    def up(self) -> bool:
        return self.ari.connected.is_set()


class Nodes:
    """The dialer's nodes in configured order; the first also carries verification calls and
    take-overs whose node is unknown."""

    def __init__(self, nodes: list[Node]) -> None:
        if not nodes:
            raise ValueError("a dialer needs at least one Asterisk node")
        self._nodes = nodes
        self._load: Counter[str] = Counter()  # calls in progress per node

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes)

    def __getitem__(self, index: int) -> Node:
        return self._nodes[index]

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def first(self) -> Node:
        return self._nodes[0]

    @property
    def any_up(self) -> bool:
        return any(node.up for node in self._nodes)

    @property
    def names(self) -> str:
        return ",".join(node.name for node in self._nodes)

    def free(self, node: Node) -> int:
        return max(node.limit - self._load[node.name], 0)

    def free_up(self) -> int:
        """Room for new calls on the nodes that are up."""
        return sum(self.free(node) for node in self._nodes if node.up)

    def roomiest(self) -> Node:
        """The healthy node with the most room (the first node when none is up)."""
        return max((n for n in self._nodes if n.up), key=self.free, default=self._nodes[0])

    def named(self, name: str | None) -> Node:
        return next((n for n in self._nodes if n.name == name), self._nodes[0])

    def carry(self, node: Node) -> None:
        self._load[node.name] += 1

    def drop(self, node: Node) -> None:
        self._load[node.name] -= 1

    async def close(self) -> None:
        for node in self._nodes:
            await node.ari.close()


def ari_config(settings: Settings, dialer_id: str) -> AriConfig:
    # Each dialer is its own Stasis application, so several dialers on one Asterisk never
    # take each other's events (a second connection would replace the first).
    return AriConfig(settings.ari_url, settings.ari_user, settings.ari_password,
                     f"{settings.ari_app}-{dialer_id.rsplit('-', 1)[-1]}")


def nodes_for(settings: Settings, dialer_id: str) -> Nodes:
    """VOXLANCER_ARI_NODES (`url=limit,url=limit`), or the one VOXLANCER_ARI_URL node."""
    nodes = []
    for entry in filter(None, (e.strip() for e in settings.ari_nodes.split(","))):
        url, _, limit = entry.partition("=")
        config = dataclasses.replace(ari_config(settings, dialer_id), url=url.strip())
        nodes.append(Node(AriClient(config),
                          int(limit) if limit.strip() else settings.node_channel_limit))
    return Nodes(nodes or [Node(AriClient(ari_config(settings, dialer_id)),
                                settings.node_channel_limit)])
