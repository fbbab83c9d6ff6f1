"""Hardened XML parsing: no DTDs, no entity expansion (billion laughs), no external references."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ..errors import SourceError


def parse_xml(data: bytes, where: str) -> Element:
    try:
        return SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise SourceError(f"refused unsafe XML ({type(exc).__name__})", where) from None
    except ParseError as exc:
        line, _ = getattr(exc, "position", (0, 0))
        raise SourceError(f"not well-formed XML ({exc})", f"{where}:{line}") from None
    except (ValueError, LookupError) as exc:  # unknown declared encoding, bad bytes in it
        raise SourceError(f"unreadable XML: {exc}", where) from None


def text_of(element: Element | None) -> str | None:
    if element is None:
        return None
    return "".join(element.itertext())
