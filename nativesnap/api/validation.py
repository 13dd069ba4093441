"""JSON Schema validation of request bodies and query strings.

A request that fails validation is answered 400 before a handler runs, so it
changes nothing. Messages name the field and say what is wrong without echoing
long user input back.
"""

import functools
import re

import jsonschema
from jsonschema import validators

from nativesnap import exception

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@functools.lru_cache(maxsize=None)
def _python_pattern(pattern):
    """``pattern`` with each end anchor ``$`` written ``\\Z``.

    Schema patterns are ECMA 262 regexes, where ``$`` matches only at the very
    end; Python's ``$`` also matches before a final newline, which would let
    "name\\n" or "<uuid>\\n" through.
    """
    out, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        out.append(char)
    return "".join(out)


def _pattern(validator, pattern, instance, schema):
    if (validator.is_type(instance, "string")
            and not re.search(_python_pattern(pattern), instance)):
        yield jsonschema.ValidationError(
            f"{_short(instance)} does not match {pattern!r}")


_Validator = validators.extend(jsonschema.Draft202012Validator,
                               {"pattern": _pattern})


def _short(value, limit=40):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _where(error, root):
    path = "/".join(str(p) for p in error.absolute_path)
    return f"'{path}'" if path else root


def _message(error, root="the body"):
    """One clear sentence for a jsonschema error; ``root`` names the whole
    instance (the body, or the query string)."""
    where = _where(error, root)
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    if kind in ("pattern", "not") and "x-error" in schema:
        return f"{where} {schema['x-error']}"
    value = error.validator_value
    if kind == "maxLength":
        return (f"{where} is {len(error.instance)} characters long; at most "
                f"{value} are allowed")
    if kind == "minLength":
        return (f"{where} must not be empty" if value == 1 else
                f"{where} must be at least {value} characters long")
    if kind == "type":
        expected = value if isinstance(value, str) else " or ".join(value)
        actual = type(error.instance).__name__
        actual = {"dict": "object", "list": "array", "str": "string",
                  "int": "integer", "float": "number", "bool": "boolean",
                  "NoneType": "null"}.get(actual, actual)
        return f"{where} must be of type {expected}, not {actual}"
    if kind == "enum":
        return (f"{where} must be one of {', '.join(map(str, value))}; got "
                f"{_short(error.instance)}")
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(schema.get("properties", {})))
        allowed = ", ".join(sorted(schema.get("properties", {}))) or "none"
        # Field names are input too: a few, shortened, never all of them.
        named = ", ".join(_short(key) for key in extra[:3])
        if len(extra) > 3:
            named += f" and {len(extra) - 3} more"
        return f"unknown field(s) {named} in {where}; allowed: {allowed}"
    if kind == "required":
        return error.message.replace("is a required property",
                                     f"is required in {where}")
    if kind in ("minimum", "maximum"):
        return f"{where} must be {'>=' if kind == 'minimum' else '<='} {value}"
    if kind in ("minProperties", "maxProperties"):
        return f"{where} must have {'at least' if kind == 'minProperties' else 'at most'} {value} field(s)"
    return f"{where}: {error.message[:200]}"


def validate(schema, instance, where="request body"):
    validator = _Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(instance),
                    key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        root = "the body" if where == "request body" else f"the {where}"
        raise exception.ValidationError(where=where,
                                        reason=_message(errors[0], root))


def schema(body_schema):
    """Decorator: validate the handler's ``body`` against ``body_schema``.

    The schema is kept on the function so the OpenAPI document is generated
    from the very schemas the API enforces.
    """
    def decorator(func):
        @functools.wraps(func)
        def wrapper(self, req, *args, **kwargs):
            validate(body_schema, kwargs.get("body"))
            return func(self, req, *args, **kwargs)
        wrapper.body_schema = body_schema
        return wrapper
    return decorator


def validate_query(schema_, req):
    """The query string as a dict, each parameter given once and the whole
    valid against ``schema_``; for handlers that check policy first."""
    params = {}
    for key, value in req.GET.items():
        if key in params:
            raise exception.ValidationError(
                where="query string",
                reason=f"parameter '{key}' is given more than once")
        params[key] = value
    validate(schema_, params, where="query string")
    return params


def query_schema(schema_):
    """Decorator: validate the query string (each parameter once) first."""
    def decorator(func):
        @functools.wraps(func)
        def wrapper(self, req, *args, **kwargs):
            validate_query(schema_, req)
            return func(self, req, *args, **kwargs)
        wrapper.query_schema = schema_
        return wrapper
    return decorator


def check_uuid(what, value):
    if not isinstance(value, str) or not UUID_RE.fullmatch(value):
        raise exception.InvalidUUID(what=what, value=_short(value, 60).strip("'"))
    return value.lower()
