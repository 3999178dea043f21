"""Request checks every emulated API uses: zod-like messages for fields that break a contract."""

from __future__ import annotations


class BodyValidationError(ValueError):
    """A request body the real API would refuse; the text reads like aimlapi's zod messages."""


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def required(body: dict[str, object], name: str) -> object:
    if name not in body:
        raise BodyValidationError(f"{name}: Required")
    return body[name]


def enum(body: dict[str, object], name: str, choices: tuple[str, ...]) -> str | None:
    return enum_value(name, body[name], choices) if name in body else None


def enum_value(name: str, value: object, choices: tuple[str, ...]) -> str:
    expected = " | ".join(f"'{choice}'" for choice in choices)
    if not isinstance(value, str):
        raise BodyValidationError(f"{name}: Expected {expected}, received {json_type(value)}")
    if value not in choices:
        raise BodyValidationError(
            f"{name}: Invalid enum value. Expected {expected}, received '{value}'"
        )
    return value


def string(name: str, value: object, shortest: int, longest: int) -> str:
    if not isinstance(value, str):
        raise BodyValidationError(f"{name}: Expected string, received {json_type(value)}")
    if len(value) < shortest:
        raise BodyValidationError(f"{name}: String must contain at least {shortest} character(s)")
    if len(value) > longest:
        raise BodyValidationError(f"{name}: String must contain at most {longest} character(s)")
    return value


def integer(body: dict[str, object], name: str, lowest: int, highest: int) -> int | None:
    if name not in body:
        return None
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BodyValidationError(f"{name}: Expected number, received {json_type(value)}")
    # JSON has one number type: 2.0 is an integer to a JavaScript validator, 2.5 is not.
    if isinstance(value, float) and not value.is_integer():
        raise BodyValidationError(f"{name}: Expected integer, received float")
    if value < lowest:
        raise BodyValidationError(f"{name}: Number must be greater than or equal to {lowest}")
    if value > highest:
        raise BodyValidationError(f"{name}: Number must be less than or equal to {highest}")
    return int(value)


def boolean(body: dict[str, object], name: str) -> bool | None:
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, bool):
        raise BodyValidationError(f"{name}: Expected boolean, received {json_type(value)}")
    return value
