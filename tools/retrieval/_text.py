"""Bytes to text in whatever encoding a file was saved in, or a reason why it is not text.

The order matters because detection on short texts is a guess: a byte-order mark
is certain, valid UTF-8 is almost certain (other encodings' non-ASCII bytes are
very unlikely to form valid UTF-8 sequences), a declared charset (HTML) is the
author's word; only then does charset-normalizer detect. On a note of a dozen
characters it finds several encodings that decode cleanly (GBK bytes are valid
Korean or Big5 too), so the candidates are ranked by how plausible their text is
for the script each encoding is made for, then by the library's own measures.
"""

from __future__ import annotations

import codecs
import unicodedata
from collections.abc import Callable

from charset_normalizer import from_bytes

__all__ = ["NotText", "decode_bytes"]

SNIFF_BYTES = 8192
"""How much of a file the binary and BOM-less UTF-16/32 checks look at."""

_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 first: its little-endian BOM begins with UTF-16's.
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
)
# The encodings people save text in, most used first: the order breaks ties. cp932 and
# cp949 are Windows' Shift-JIS and EUC-KR, supersets of them; cp1252 is Windows' latin-1.
CANDIDATES = (
    "gb18030",
    "big5",
    "cp932",
    "euc_jp",
    "cp949",
    "cp1252",
    "cp1250",
    "cp1251",
    "koi8_r",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "latin_1",
)


class NotText(Exception):
    """The bytes are not text in any encoding mull knows; `reason` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def bom_encoding(data: bytes) -> str | None:
    """The encoding a byte-order mark at the start of `data` names, if there is one."""
    return next((encoding for bom, encoding in _BOMS if data.startswith(bom)), None)


def _nul_pattern_encoding(sample: bytes) -> str | None:
    """UTF-16 or UTF-32 without a BOM, told by where the NUL bytes of mostly-ASCII text fall."""
    for width, encoding in ((4, "utf-32"), (2, "utf-16")):
        groups = len(sample) // width
        if groups < 4:
            continue
        for endian, nul_at, text_at in (("le", range(1, width), 0), ("be", range(width - 1), -1)):
            high = sum(all(sample[g * width + i] == 0 for i in nul_at) for g in range(groups))
            low = sum(sample[g * width + text_at % width] != 0 for g in range(groups))
            if high >= 0.6 * groups and low >= 0.6 * groups:
                return f"{encoding}-{endian}"
    return None


def _controls(text: str) -> int:
    return sum(unicodedata.category(c) == "Cc" and c not in "\t\n\r\f\v" for c in text)


def _two_byte_lead_in(family: str, low: int, high: int) -> Callable[[str], bool]:
    """A test: does a character encode in `family` as two bytes whose first is in low..high?"""

    def test(char: str) -> bool:
        try:
            encoded = char.encode(family)
        except UnicodeEncodeError:
            return False
        return len(encoded) == 2 and low <= encoded[0] <= high

    return test


# The common repertoire of each double-byte family: its symbols and its first, most-used level
# of characters (GB2312 level 1, Big5's frequent characters, JIS level 1 with the kana, KS X 1001
# Hangul). Text in the wrong double-byte encoding mostly decodes to rarer characters.
_COMMON: dict[str, Callable[[str], bool]] = {
    "gb18030": _two_byte_lead_in("gb2312", 0xA1, 0xD7),
    "big5": _two_byte_lead_in("big5", 0xA1, 0xC6),
    "cp932": _two_byte_lead_in("cp932", 0x81, 0x98),
    "euc_jp": _two_byte_lead_in("cp932", 0x81, 0x98),
    "cp949": _two_byte_lead_in("euc_kr", 0xA1, 0xC8),
}
# Quotes, dashes, currency and other signs of Western typography, as cp1252 has them.
_TYPOGRAPHY = frozenset(
    "\u2018\u2019\u201a\u201c\u201d\u201e\u2013\u2014\u2026\u2022\u20ac\u00a3\u00a5\u00a9\u00ae\u00b0\u00b1\u00b7\u00ab\u00bb\u00bf\u00a1\u00a7\u00b6\u00d7\u00f7\u2122\u2030"
)


def _script(char: str) -> str:
    return unicodedata.name(char, "").split(" ", 1)[0]


def _plausibility(text: str, encoding: str) -> float:
    """The share of non-ASCII characters that are common ones for the encoding's script."""
    sample = text[:SNIFF_BYTES]
    positions = [i for i, c in enumerate(sample) if ord(c) > 0x7F]
    if not positions:
        return 1.0
    common = _COMMON.get(encoding)
    if common is not None:
        good = sum(common(sample[i]) or sample[i] in _TYPOGRAPHY for i in positions)
        return good / len(positions)
    # One byte per character: a letter fits when its word's other letters share its script
    # ("café", "Гарантия"); Latin-1 read as cp1251 gives "cafй", a Cyrillic letter in a Latin word.
    good = 0
    for i in positions:
        char = sample[i]
        if char in _TYPOGRAPHY:
            good += 1
        elif char.isalpha():
            neighbours = [c for c in sample[max(i - 1, 0) : i + 2] if c.isalpha() and c != char]
            good += all(_script(c) == _script(char) for c in neighbours)
    return good / len(positions)


def _printable(text: str) -> bool:
    return _controls(text[:SNIFF_BYTES]) <= 0.01 * min(len(text), SNIFF_BYTES)


def _most_used(encodings: list[str]) -> str:
    """Of encodings that read the same bytes alike (German in cp1252 or cp1250), the most used."""
    return min(encodings, key=lambda e: CANDIDATES.index(e) if e in CANDIDATES else len(CANDIDATES))


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode a text file's bytes: a BOM, else UTF-8, else the declared charset, else detection.

    Args:
        data: The file's bytes.
        declared: The charset the document declares (an HTML `<meta charset>`), if any.

    Returns:
        The text, without a BOM, and the Python name of the encoding used (`utf-8`, `gb18030`,
        `big5`, `cp932`, `cp1252`, ...).

    Raises:
        NotText: The bytes are binary, or no known encoding reads them as text.
    """
    sample = data[:SNIFF_BYTES]
    encoding = bom_encoding(data) or (_nul_pattern_encoding(sample) if b"\0" in sample else None)
    if encoding is not None:
        try:
            text = data.decode(encoding).removeprefix("\ufeff")
        except UnicodeDecodeError:
            raise NotText(f"not {encoding.upper()} text despite its byte-order mark") from None
        if not _printable(text):
            raise NotText("binary file")
        return text, codecs.lookup(encoding).name
    if b"\0" in sample:
        raise NotText("binary file")
    for guess in ["utf-8", declared] if declared else ["utf-8"]:
        try:
            text = data.decode(guess)
        except (UnicodeDecodeError, LookupError):
            continue
        if not _printable(text):  # control bytes below 0x20 are valid ASCII, and binary
            raise NotText("binary file")
        return text, codecs.lookup(guess).name
    matches = list(from_bytes(data, cp_isolation=list(CANDIDATES)))

    def rank(match: object) -> tuple[float, float, float, int]:
        name = match.encoding  # type: ignore[attr-defined]
        order = CANDIDATES.index(name) if name in CANDIDATES else len(CANDIDATES)
        plausible = round(_plausibility(str(match), name), 2)
        return (-plausible, match.chaos, -match.coherence, order)  # type: ignore[attr-defined]

    for match in sorted(matches, key=rank):
        text = str(match)
        if _printable(text):
            return text, codecs.lookup(_most_used(match.could_be_from_charset)).name
    if _controls(data[:SNIFF_BYTES].decode("latin-1")) > 0.01 * len(sample):
        raise NotText("binary file")
    raise NotText("not text in any known encoding (not UTF-8, GB18030, Big5, Shift-JIS, cp1252)")
