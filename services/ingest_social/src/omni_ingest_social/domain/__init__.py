"""The pure core of ingest_social: provider formats and signatures in, normalized messages out."""

from omni_ingest_social.domain.batch import DetectLanguage, MalformedPayload, ParsedDelivery, Routed
from omni_ingest_social.domain.line import parse_line
from omni_ingest_social.domain.meta import parse_meta
from omni_ingest_social.domain.signatures import (
    SignatureCheck,
    check_line,
    check_meta,
    check_telegram,
    check_x,
    line_signature,
    meta_signature,
    meta_verification,
    x_crc_response,
    x_signature,
)
from omni_ingest_social.domain.telegram import parse_telegram
from omni_ingest_social.domain.x import parse_x
from omni_service.language import detect_language

__all__ = [
    "DetectLanguage",
    "MalformedPayload",
    "ParsedDelivery",
    "Routed",
    "SignatureCheck",
    "check_line",
    "check_meta",
    "check_telegram",
    "check_x",
    "detect_language",
    "line_signature",
    "meta_signature",
    "meta_verification",
    "parse_line",
    "parse_meta",
    "parse_telegram",
    "parse_x",
    "x_crc_response",
    "x_signature",
]
