"""Email addresses as papertrend stores them: one check for every form that takes one."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from .errors import BadRequest


def normalise_email(value: str, utf8_local_part: bool = True) -> str:
    """The address as stored: checked by email-validator (RFC 5321/6531 syntax; NUL, control and
    bidi characters refused), the domain in IDNA (ASCII) form, lower-cased. Addresses whose part
    before the @ is not ASCII need SMTPUTF8: refused when the mail server cannot take them."""
    text = (value or "").strip()
    if len(text) > 320:
        raise BadRequest("That email address is too long.")
    if "=?" in text:  # an RFC 2047 encoded word is a header trick, not an address
        raise BadRequest("That does not look like an email address.")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise BadRequest(f"That does not look like an email address: {exc}") from None
    if result.smtputf8 and not utf8_local_part:
        raise BadRequest("This site's mail server cannot deliver to an address with non-ASCII letters before "
                         "the @. Please use another address.")
    return (result.ascii_email or result.normalized).lower()
