"""Escaping and the Jinja environment shared by the HTML pages (dashboard and frontier).

Every user-supplied string (strategy and asset names, config values, provenance, links) is
HTML-escaped, by a template's autoescaping or by :func:`esc` in fragments passed as ``Markup``;
JSON embedded for scripts has ``<``, ``>`` and ``&`` escaped as ``\\u003c`` etc. so no value can
close the ``<script>`` element.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import jinja2
import numpy as np
from markupsafe import Markup, escape


def esc(value: object) -> str:
    """HTML-escape ``str(value)``, quotes included (safe in text and attribute values).

    The same escaping as the template's autoescape (:func:`markupsafe.escape`); ``str`` first,
    so an object claiming to be HTML (``__html__``) is escaped all the same.
    """
    return str(escape(str(value)))


def trusted(*fragments: str) -> Markup:
    """Join HTML built by the report's helpers, every user string in it already :func:`esc`\\ d,
    into one fragment the template inserts as is."""
    return Markup("".join(fragments))


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja environment of the package's ``templates/``; autoescaping every expression."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("maxent_portfolio.reporting", "templates"),
        autoescape=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def script_json(data: object) -> str:
    """JSON safe to place inside ``<script type="application/json">``.

    ``<``, ``>``, ``&`` and the JavaScript line separators are written as ``\\uXXXX`` escapes, so
    ``</script>`` or ``<!--`` in any value cannot end or alter the element. NaN and infinities
    become ``null`` so the text is strict JSON.
    """
    text = json.dumps(jsonable(data), ensure_ascii=False, allow_nan=False, indent=None)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                       ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text


def jsonable(value: object) -> Any:
    """Plain JSON types: mappings, lists, str, finite numbers, bool, None (else ``str``)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def safe_link(link: str) -> str:
    """A relative link, escaped for an ``href``; absolute URLs and schemes are refused."""
    parts = urlsplit(link)
    if parts.scheme or parts.netloc or link.startswith(("/", "\\")):
        raise ValueError(f"tear sheet links must be relative paths, got {link!r}")
    return esc(link)


__all__ = ["environment", "esc", "jsonable", "safe_link", "script_json", "trusted"]
