"""Phone numbers in E.164, as Twilio's `From`/`To` carry them (possibly with a channel prefix)."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


@lru_cache(maxsize=8192)  # the same numbers recur (ours always); parsing is the costly part
def to_e164(raw: str, *, region: str | None = None) -> str | None:
    """`raw` as an E.164 number (`+819012345678`), or None when it is not a possible phone number.

    `region` (ISO 3166 alpha-2, e.g. Twilio's `FromCountry`) reads national formats such as
    `090-1234-5678`; numbers with a leading `+` need none.
    """
    text = raw.strip()
    if not text:
        return None
    hint = region.strip().upper() if region and len(region.strip()) == 2 else None
    if hint is None and not text.startswith("+"):
        text = "+" + text if text.isdigit() and len(text) > 7 else text
    try:
        number = phonenumbers.parse(text, hint)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
