"""workerinput / workeroutput values over bulkhead's JSON channels.

pytest-xdist moves these dicts with execnet, which carries bytes, tuples and sets as well as
JSON's types (pytest-cov's coverage data is bytes). Such values travel here as small tagged
objects; everything else is plain JSON. Values neither can carry raise TypeError naming the key.
"""

import base64
import json

_TAG = "__bulkhead_value__"


def _encode(value, where):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {_TAG: "bytes", "data": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, tuple):
        return {_TAG: "tuple", "items": [_encode(item, where) for item in value]}
    if isinstance(value, (set, frozenset)):
        return {_TAG: "set", "items": [_encode(item, where) for item in value]}
    if isinstance(value, list):
        return [_encode(item, where) for item in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("%s: key %r is not a string" % (where, key))
            out[key] = _encode(item, "%s[%r]" % (where, key))
        return out
    raise TypeError("%s: %s values cannot cross to another process" % (where, type(value).__name__))


def _decode(value):
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if isinstance(value, dict):
        kind = value.get(_TAG)
        if kind == "bytes":
            return base64.b64decode(value["data"])
        if kind == "tuple":
            return tuple(_decode(item) for item in value["items"])
        if kind == "set":
            return set(_decode(item) for item in value["items"])
        return {key: _decode(item) for key, item in value.items()}
    return value


def encode(value, where="value"):
    """The JSON-ready form of `value` (a dict of execnet-like values)."""
    return _encode(value, where)


def decode(value):
    """The inverse of encode(), applied to already-parsed JSON."""
    return _decode(value)


def dumps(value, where="value"):
    return json.dumps(encode(value, where), ensure_ascii=False, separators=(",", ":"))
