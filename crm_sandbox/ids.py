"""Record ids the way the two CRMs shape them.

Salesforce ids are 15 case-sensitive characters (3-character key prefix per object) plus a
3-character suffix that encodes the case of the first 15, so the 18-character form survives
case-insensitive systems. HubSpot ids are numeric strings.
"""

from __future__ import annotations

import itertools
import string
import threading

_SUFFIX_ALPHABET = string.ascii_uppercase + "012345"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_ALNUM = frozenset(string.ascii_letters + string.digits)

KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Task": "00T",
    "Opportunity": "006",
    "Organization": "00D",
    "CurrencyType": "02a",
    "CustomField": "00N",
    "Bulk2Job": "750",
    "FieldPermissions": "01k",
    "PermissionSet": "0PS",
    "PermissionSetAssignment": "0Pa",
    "QueryLocator": "01g",
}
OBJECT_BY_PREFIX = {prefix: name for name, prefix in KEY_PREFIXES.items()}


def checksum_suffix(id15: str) -> str:
    suffix = ""
    for chunk in range(3):
        flags = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if char.isupper():
                flags |= 1 << position
        suffix += _SUFFIX_ALPHABET[flags]
    return suffix


def to_18(id15: str) -> str:
    return id15 + checksum_suffix(id15)


def is_well_formed(value: str) -> bool:
    """True for a 15- or 18-character id whose suffix (if any) matches its case."""
    if len(value) not in (15, 18) or not set(value) <= _ALNUM:
        return False
    return len(value) == 15 or checksum_suffix(value[:15]) == value[15:]


def normalize(value: str) -> str:
    """The 18-character form of a well-formed id (call ``is_well_formed`` first)."""
    return to_18(value) if len(value) == 15 else value


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    return "".join(reversed(digits))


class SalesforceIds:
    """Hands out realistic, unique 18-character ids per object key prefix."""

    def __init__(self, start: int = 1) -> None:
        self._counter = itertools.count(start)
        self._lock = threading.Lock()

    def new(self, object_name: str) -> str:
        prefix = KEY_PREFIXES.get(object_name, "a00")
        with self._lock:
            number = next(self._counter)
        # 3 prefix + "5g" pod/instance chars + 10 base62 digits = 15
        return to_18(prefix + "5g" + _base62(number, 10))

    def peek(self) -> int:
        with self._lock:
            number = next(self._counter)
        self._counter = itertools.count(number)
        return number


class HubSpotIds:
    def __init__(self, start: int = 1001) -> None:
        self._counter = itertools.count(start)
        self._lock = threading.Lock()

    def new(self) -> str:
        with self._lock:
            return str(next(self._counter))

    def peek(self) -> int:
        with self._lock:
            number = next(self._counter)
        self._counter = itertools.count(number)
        return number
