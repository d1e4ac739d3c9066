"""QR codes (segno) as data URIs the browser can show directly."""

from __future__ import annotations

from functools import lru_cache

import segno


@lru_cache(maxsize=1024)
def svg_data_uri(text: str) -> str:
    return segno.make(text, error="m").svg_data_uri(scale=6, border=2, dark="#1f1f2e")
