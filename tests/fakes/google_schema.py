"""The Calendar v3 discovery document googleapiclient ships, used by the Google fake to be as strict
as Google about what it is sent and as sparse as Google in what it answers (issue 19 item 7).

* ``check_query``: every query parameter is one the method (or the API, like ``alt``) declares,
  of its type (``true``/``false``, integers within ``minimum``/``maximum``) and, where the document
  lists them, one of its ``enum`` values; repeated only where ``repeated`` says so.
* ``check_body``: the request body against the method's request schema: no unknown field, every
  value of its type and format (``date-time``, ``date``, ``int32``, ``int64``), enumerated strings
  among the "Possible values" the property's description lists, fields the schema annotates as
  required for that method present (``start``/``end`` for insert, update and import, ``iCalUID``
  for import), and array entries carrying what their description calls "Required when adding"
  (an attendee's ``email``, a reminder's ``method`` and ``minutes``). ``null`` is accepted: on a
  patch it clears the field (Google's patch semantics), elsewhere it counts as absent.
* ``sparse``: a resource as Google answers it: a field whose value is the default the document
  states (``"default": "false"``, ``"opaque"``, ``"default"``, ...; or "The default is False" in
  its description, as for ``attendees[].organizer``) is left out, and so are empty strings, lists
  and objects. ``kind`` and ``eventType`` are the exceptions: Google always sends them.

A refused request raises ``SchemaError``; the fake turns it into Google's 400 error shape
(PROTOCOLS.md §1.8). The texts of those messages are not documented and are modelled on Google's
"Invalid value for: ..." style.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any

# Sent by Google whatever their value (real answers always carry them).
ALWAYS_SENT = frozenset({"kind", "eventType"})
_POSSIBLE = re.compile(r"[Pp]ossible values? (?:are|is):(.*)", re.DOTALL)
_VALUE = re.compile(r'- "([^"]+)"')


class SchemaError(Exception):
    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


@cache
def document() -> dict[str, Any]:
    import googleapiclient

    path = os.path.join(
        os.path.dirname(googleapiclient.__file__),
        "discovery_cache",
        "documents",
        "calendar.v3.json",
    )
    with open(path, encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


@cache
def methods() -> dict[str, dict[str, Any]]:
    """Every method of the document by its id (``calendar.events.patch``)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(resources: Mapping[str, Any]) -> None:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                found[method["id"]] = method
            walk(resource.get("resources", {}))

    walk(document()["resources"])
    return found


def _schema(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = spec.get("$ref")
    if ref is None:
        return spec
    resolved: Mapping[str, Any] = document()["schemas"][ref]
    return resolved


@cache
def _enum_in(description: str) -> frozenset[str]:
    """The values a description lists after "Possible values are:" (empty when it lists none)."""
    match = _POSSIBLE.search(description)
    return frozenset(_VALUE.findall(match.group(1))) if match else frozenset()


def _enum(spec: Mapping[str, Any]) -> frozenset[str]:
    if "enum" in spec:
        return frozenset(spec["enum"])
    return _enum_in(str(spec.get("description", "")))


# -- query parameters -----------------------------------------------------------------------------


def check_query(method_id: str, query: Mapping[str, list[str]]) -> None:
    declared = {**document()["parameters"], **methods()[method_id].get("parameters", {})}
    for name, values in query.items():
        spec = declared.get(name)
        if spec is None or spec.get("location") != "query":
            raise SchemaError(f"Unknown parameter: {name}")
        if len(values) > 1 and not spec.get("repeated"):
            raise SchemaError(f"Parameter {name} may be given only once.")
        for value in values:
            _check_parameter(name, value, spec)


def _check_parameter(name: str, value: str, spec: Mapping[str, Any]) -> None:
    kind = spec.get("type")
    if kind == "boolean" and value not in ("true", "false"):
        raise SchemaError(f"Invalid value for: {name} ({value}) is not a valid boolean")
    if kind == "integer":
        try:
            number = int(value)
        except ValueError:
            raise SchemaError(f"Invalid value for: {name} ({value}) is not an integer") from None
        if "minimum" in spec and number < int(spec["minimum"]):
            raise SchemaError(f"Invalid value for: {name} ({value}) is below the minimum")
        if "maximum" in spec and number > int(spec["maximum"]):
            raise SchemaError(f"Invalid value for: {name} ({value}) is above the maximum")
    allowed = _enum(spec)
    if allowed and value not in allowed:
        raise SchemaError(f"Invalid value for: {name} ({value}) is not a valid value")


# -- request bodies -------------------------------------------------------------------------------


def check_body(method_id: str, body: Any) -> None:
    """Check ``body`` against the request schema of ``method_id``; raises ``SchemaError``."""
    request = methods()[method_id].get("request")
    if request is None:
        return
    if not isinstance(body, Mapping):
        raise SchemaError("Invalid JSON payload received: the body is not an object.", "parseError")
    _check(body, request, "resource", method_id)


def _check(value: Any, spec: Mapping[str, Any], path: str, method_id: str) -> None:
    if value is None:
        return  # patch: clears the field; other methods: absent
    schema = _schema(spec)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema or "additionalProperties" in schema:
        _check_object(value, schema, path, method_id)
    elif kind == "array":
        if not isinstance(value, list):
            raise SchemaError(f"Invalid value at '{path}': expected a list.")
        items = schema.get("items", {})
        for index, item in enumerate(value):
            where = f"{path}[{index}]"
            _check(item, items, where, method_id)
            _check_required_when_adding(item, _schema(items), where)
    elif kind == "string":
        _check_string(value, schema, path)
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(f"Invalid value at '{path}': expected an integer.")
        if schema.get("format") == "int32" and not -(2**31) <= value < 2**31:
            raise SchemaError(f"Invalid value at '{path}': out of range for int32.")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise SchemaError(f"Invalid value at '{path}': expected a boolean.")
    elif kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise SchemaError(f"Invalid value at '{path}': expected a number.")


def _check_object(value: Any, schema: Mapping[str, Any], path: str, method_id: str) -> None:
    if not isinstance(value, Mapping):
        raise SchemaError(f"Invalid value at '{path}': expected an object.")
    properties: Mapping[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if key in properties:
            _check(item, properties[key], f"{path}.{key}", method_id)
        elif extra is not None:
            _check(item, extra, f"{path}.{key}", method_id)
        else:
            raise SchemaError(
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{path}': "
                "Cannot find field."
            )
    for key, spec in properties.items():
        required = spec.get("annotations", {}).get("required", [])
        if method_id in required and value.get(key) is None:
            raise SchemaError(f"Missing {key}: '{path}.{key}' is required.", "required")


def _check_required_when_adding(item: Any, schema: Mapping[str, Any], path: str) -> None:
    """An attendee's ``email`` and a reminder's ``method``/``minutes``: "Required when adding"."""
    if not isinstance(item, Mapping):
        return
    for key, spec in schema.get("properties", {}).items():
        if "Required when adding" in str(spec.get("description", "")) and item.get(key) is None:
            raise SchemaError(f"Missing {key}: '{path}.{key}' is required.", "required")


def _parses(parse: Any, value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


def _check_string(value: Any, schema: Mapping[str, Any], path: str) -> None:
    fmt = schema.get("format")
    if fmt in ("int64", "uint64") and isinstance(value, int) and not isinstance(value, bool):
        return  # JSON int64 travels as a string, but a number is read too
    if not isinstance(value, str):
        raise SchemaError(f"Invalid value at '{path}': expected a string.")
    if fmt == "date-time" and not _parses(datetime.fromisoformat, value):
        raise SchemaError(f"Invalid value at '{path}' ({value}): not an RFC 3339 date-time.")
    if fmt == "date" and not (len(value) == 10 and _parses(date.fromisoformat, value)):
        raise SchemaError(f"Invalid value at '{path}' ({value}): not a yyyy-mm-dd date.")
    if fmt in ("int64", "uint64") and not re.fullmatch(r"-?\d+", value):
        raise SchemaError(f"Invalid value at '{path}' ({value}): not an integer.")
    allowed = _enum(schema)
    if allowed and value not in allowed:
        raise SchemaError(f"Invalid value at '{path}' ({value}): not one of {sorted(allowed)}.")


# -- answers --------------------------------------------------------------------------------------


def sparse(resource: Mapping[str, Any], schema_name: str = "Event") -> dict[str, Any]:
    """``resource`` without the fields Google leaves out (defaults and empty values)."""
    return _sparse_object(resource, document()["schemas"][schema_name], top=True)


def _default_of(spec: Mapping[str, Any]) -> tuple[bool, Any]:
    if "default" in spec:
        raw = spec["default"]
        kind = spec.get("type")
        if kind == "boolean":
            return True, raw == "true"
        if kind == "integer":
            return True, int(raw)
        return True, raw
    if spec.get("type") == "boolean" and "The default is False" in str(spec.get("description")):
        return True, False
    return False, None


def _sparse_object(
    value: Mapping[str, Any], schema: Mapping[str, Any], *, top: bool = False
) -> dict[str, Any]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    out: dict[str, Any] = {}
    for key, item in value.items():
        spec = properties.get(key)
        if spec is None:
            # A map (extendedProperties.private) or a key the fake keeps for itself: as it is.
            if item is not None and item != {} and item != []:
                out[key] = item
            continue
        shaped = _sparse_value(item, spec)
        if top and key in ALWAYS_SENT:
            out[key] = shaped
            continue
        if shaped is None or shaped == "" or shaped == [] or shaped == {}:
            continue
        has_default, default = _default_of(spec)
        if has_default and shaped == default:
            continue
        out[key] = shaped
    return out


def _sparse_value(value: Any, spec: Mapping[str, Any]) -> Any:
    schema = _schema(spec)
    if isinstance(value, Mapping) and "properties" in schema:
        return _sparse_object(value, schema)
    if isinstance(value, Mapping) and "additionalProperties" in schema:
        return {k: v for k, v in value.items() if v is not None}
    if isinstance(value, list) and schema.get("type") == "array":
        items = _schema(schema.get("items", {}))
        if "properties" in items:
            return [_sparse_object(i, items) if isinstance(i, Mapping) else i for i in value]
        return list(value)
    return value
