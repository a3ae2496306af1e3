"""The broker URL setting: ``kafka://host:port[;host:port]``, checked and turned into the
``host:port,host:port`` the clients take."""

from __future__ import annotations


def broker_url_problem(url: str) -> str | None:
    """What is wrong with a broker URL, or None."""
    if not url.startswith("kafka://"):
        if "://" not in url:
            return "no scheme: it must start with kafka://"
        return f"the scheme must be kafka://, not {url.split('://', 1)[0]}://"
    hosts = [part.strip() for part in url.replace(",", ";").split(";") if part.strip()]
    for host in hosts:
        address = host.removeprefix("kafka://").rstrip("/")
        name, _, port = address.rpartition(":")
        if not name or not port:
            return f"{address!r} has no host:port"
        if not port.isdigit() or not 0 < int(port) < 65536:
            return f"{address!r} has no valid port (1-65535)"
    return None


def bootstrap_servers(broker_url: str) -> str:
    hosts = []
    for part in broker_url.replace(",", ";").split(";"):
        part = part.strip()
        if "://" in part:
            part = part.split("://", 1)[1]
        if part:
            hosts.append(part.rstrip("/"))
    return ",".join(hosts)
