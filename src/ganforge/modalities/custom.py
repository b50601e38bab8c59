"""The user's own networks from the command line: ``--generator MODULE:CALLABLE
--discriminator MODULE:CALLABLE [--net-kwargs JSON]``. Each callable is imported (from the
current folder or ``PYTHONPATH``) and called with the JSON object's keyword arguments; it
must return an ``nn.Module``. config.json records the three, so every later command
rebuilds the same networks."""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from torch import nn

from ganforge.errors import GanforgeError

CUSTOM = "custom"  # config ``net`` of a run with the user's own networks


def net_kwargs(text: str) -> dict[str, Any]:
    """``--net-kwargs``: a JSON object (empty text: none)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as e:
        raise GanforgeError(f"--net-kwargs is not valid JSON ({e}); give an object") from None
    if not isinstance(value, dict):
        raise GanforgeError("--net-kwargs must be a JSON object like '{\"width\": 64}'")
    return value


def import_callable(spec: str, flag: str) -> Any:
    """The object ``MODULE:CALLABLE`` names; the current folder is searched first."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise GanforgeError(f"{flag} {spec!r}: expected MODULE:CALLABLE, e.g. mynets:Generator")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise GanforgeError(
            f"{flag} {spec!r}: cannot import module {module_name!r} ({e}); run from the folder "
            "that holds it or add that folder to PYTHONPATH"
        ) from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise GanforgeError(f"{flag} {spec!r}: module {module_name!r} has no {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise GanforgeError(f"{flag} {spec!r}: {attr!r} is not callable")
    return target


def build_network(spec: str, kwargs: Mapping[str, Any], flag: str) -> nn.Module:
    """``CALLABLE(**kwargs)`` of ``spec``, checked to be an ``nn.Module``."""
    factory = import_callable(spec, flag)
    try:
        network = factory(**kwargs)
    except TypeError as e:
        raise GanforgeError(f"{flag} {spec!r} cannot be called with --net-kwargs ({e})") from None
    if not isinstance(network, nn.Module):
        raise GanforgeError(
            f"{flag} {spec!r} returned {type(network).__name__}, not a torch.nn.Module"
        )
    return network


def networks_from_config(config: Mapping[str, Any]) -> tuple[nn.Module, nn.Module] | None:
    """The user's networks that a configuration names, or None for the built-in ones."""
    g_spec, d_spec = config.get("generator", ""), config.get("discriminator", "")
    if bool(g_spec) != bool(d_spec):
        raise GanforgeError("give both --generator and --discriminator, or neither")
    if not g_spec:
        if config.get("net") == CUSTOM:
            raise GanforgeError(
                "this run trained networks given as Python objects; load it in Python with "
                "GAN.load(RUN, generator=G, discriminator=D)"
            )
        return None
    kwargs = net_kwargs(config.get("net_kwargs", ""))
    return (
        build_network(g_spec, kwargs, "--generator"),
        build_network(d_spec, kwargs, "--discriminator"),
    )
