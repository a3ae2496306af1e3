"""Which ``RELEASEWATCH_*`` variables are no setting: a misspelled one would otherwise leave its
default in force unnoticed; every command stops naming it and the setting it likely meant."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from services.settings import Settings

PREFIX = "RELEASEWATCH_"
# Set by a process for itself or its children, never by an operator
# (``services.kafka.patches.fencing``, ``services.kafka.broker.process.share_ports``).
INTERNAL = frozenset(
    {"RELEASEWATCH_FENCED_RESTARTS", "RELEASEWATCH_REFUSED_INPUTS", "RELEASEWATCH_PORT_SLICE"}
)
# Kubernetes gives every pod a few variables per Service of its namespace ("service links"):
# a Service named releasewatch-x adds RELEASEWATCH_X_SERVICE_HOST, RELEASEWATCH_X_PORT=tcp://..,
# RELEASEWATCH_X_PORT_8080_TCP_ADDR and the like. They are not settings, nor typos of one.
SERVICE_LINK = re.compile(
    r"_SERVICE_(HOST|PORT(_\w+)?)$|_PORT_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?$"
)
LINK_ADDRESS = re.compile(r"^(tcp|udp|sctp)://")


def setting_names() -> list[str]:
    """Every variable ``Settings`` reads."""
    return [f"{PREFIX}{name.upper()}" for name in Settings.model_fields]


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """The ``RELEASEWATCH_*`` variables that are no setting, each with the setting it most
    likely meant: a misspelled one would otherwise leave its default in force unnoticed
    (``RELEASEWATCH_PROCESING_GUARANTEE=exactly_once`` running at least once)."""
    known = setting_names()
    suffixes = [k.removeprefix(PREFIX) for k in known]
    problems = []
    for name, value in sorted(environ.items()):
        if not name.startswith(PREFIX) or name in known or name in INTERNAL:
            continue
        if SERVICE_LINK.search(name) or (name.endswith("_PORT") and LINK_ADDRESS.match(value)):
            continue
        close = difflib.get_close_matches(name.removeprefix(PREFIX), suffixes, n=1, cutoff=0.7)
        hint = f" (did you mean {PREFIX}{close[0]}?)" if close else ""
        problems.append(f"{name} is no setting{hint}")
    return problems
