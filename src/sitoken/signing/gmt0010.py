"""GM/T 0010's content types (1.2.156.10197.6.1.4.2.x), taught to asn1crypto, which knows PKCS#7's only.

GM/T 0010 keeps PKCS#7's structures and gives them national OIDs (SKF.md section 8). asn1crypto
reads an unknown content type as ``Any`` and, building one, drops the ``[0] EXPLICIT`` tag
around the content, so the types are registered under names of their own, parsed by the same
classes as PKCS#7's. Importing this module registers them (idempotent).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asn1crypto import cms, core

from ..certs.sniff import expected
from ..errors import InvalidInput
from ..sm2 import GMT0010_DATA_OID, GMT0010_ENVELOPED_DATA_OID, GMT0010_SIGNED_DATA_OID

DATA = "gmt0010_data"
SIGNED_DATA = "gmt0010_signed_data"
ENVELOPED_DATA = "gmt0010_enveloped_data"

# What each is read as: PKCS#7's name first, then GM/T 0010's.
DATA_TYPES = ("data", DATA)
SIGNED_DATA_TYPES = ("signed_data", SIGNED_DATA)
ENVELOPED_DATA_TYPES = ("enveloped_data", ENVELOPED_DATA)


def _register() -> None:
    names = {GMT0010_DATA_OID: DATA, GMT0010_SIGNED_DATA_OID: SIGNED_DATA,
             GMT0010_ENVELOPED_DATA_OID: ENVELOPED_DATA}
    cms.ContentType._map.update(names)
    if cms.ContentType._reverse_map is not None:  # built once, on first use (as keys.NamedCurve.register does)
        cms.ContentType._reverse_map.update({name: oid for oid, name in names.items()})
    specs = {DATA: core.OctetString, SIGNED_DATA: cms.SignedData, ENVELOPED_DATA: cms.EnvelopedData}
    cms.ContentInfo._oid_specs.update(specs)
    cms.EncapsulatedContentInfo._oid_specs.update({k: v for k, v in specs.items() if k != DATA})


_register()


def load_content(der: bytes, types: tuple[str, ...], what: str, parse: Callable[[Any], object]) -> tuple[Any, str]:
    """The content of a DER ContentInfo whose type is one of ``types``, and that type.

    ``parse`` reads the fields the caller needs now (asn1crypto is lazy), so malformed input
    fails here, as InvalidInput saying what the file is, and not later with a parser's error.
    """
    try:
        info = cms.ContentInfo.load(der, strict=True)
        content_type = info["content_type"].native
        if content_type not in types:
            raise InvalidInput(f"CMS content is {content_type}, not {what}")
        content = info["content"]
        parse(content)
    except InvalidInput:
        raise
    except Exception:  # asn1crypto raises assorted built-in errors on bad input: say what it is instead
        raise expected("CMS/PKCS#7 data", der) from None
    return content, content_type
