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

from charset_normalizer.cd import coherence_ratio
from charset_normalizer.md import mess_ratio

from tools.retrieval._unreadable import DocumentError

__all__ = ["NotText", "decode_bytes"]

SNIFF_BYTES = 8192
"""How much of a file the binary and BOM-less UTF-16/32 checks look at."""
PREFIX_BYTES = 65536
"""How much of a file the candidate encodings are ranked on; the winner decodes it all."""

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


class NotText(DocumentError):
    """The bytes are not text in any encoding mull knows; `reason` says why in a few words."""


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


# The non-ASCII letters of the languages written in the Latin single-byte encodings, grouped
# where one encoding serves them. Short texts give charset-normalizer's measures little to go
# on ("à" read as cp1257 is "ą", a letter too), but a real text's accents come from one language.
_LATIN_ALPHABETS = (
    "àâæçéèêëîïôœùûüÿ",  # French
    "äöüß",  # German
    "áéíñóúü",  # Spanish
    "ãõáâàçéêíóôú",  # Portuguese
    "àèéìíîòóù",  # Italian
    "àçèéíïòóúü",  # Catalan
    "éëïöüèáó",  # Dutch
    "åæøäöéüáíóúýþð",  # Nordic
    "ąćęłńóśźż",  # Polish
    "áčďéěíňóřšťúůýžäĺľŕô",  # Czech, Slovak
    "áéíóöőúüű",  # Hungarian
    "čćđšž",  # Croatian, Slovene, Bosnian
    "ăâîșțşţ",  # Romanian
    "çğıöşüâî",  # Turkish
    "ąčęėįšųūžāēģīķļņõäöü",  # Lithuanian, Latvian, Estonian
)


def _script(char: str) -> str:
    return unicodedata.name(char, "").split(" ", 1)[0]


def _single_byte_plausibility(sample: str, positions: list[int]) -> float:
    # A letter fits when its word's other letters share its script ("café", "Гарантия"; latin-1
    # read as cp1251 gives "cafй", a Cyrillic letter in a Latin word), and Latin letters fit
    # when they are the accents of one language.
    good, letters = 0, []
    for i in positions:
        char = sample[i]
        if char in _TYPOGRAPHY:
            good += 1
        elif char.isalpha():
            neighbours = [c for c in sample[max(i - 1, 0) : i + 2] if c.isalpha() and c != char]
            if all(_script(c) == _script(char) for c in neighbours):
                letters.append(char.lower())
    latin = [c for c in letters if _script(c) == "LATIN"]
    one_language = max(sum(c in alphabet for c in latin) for alphabet in _LATIN_ALPHABETS)
    return (good + len(letters) - len(latin) + one_language) / len(positions)


def _plausibility(text: str, encoding: str) -> float:
    """The share of non-ASCII characters that are common ones for the encoding's script."""
    sample = text[:SNIFF_BYTES]
    positions = [i for i, c in enumerate(sample) if ord(c) > 0x7F]
    if not positions:
        return 1.0
    common = _COMMON.get(encoding)
    if common is None:
        return _single_byte_plausibility(sample, positions)
    return sum(common(sample[i]) or sample[i] in _TYPOGRAPHY for i in positions) / len(positions)


def _printable(text: str) -> bool:
    return _controls(text[:SNIFF_BYTES]) <= 0.01 * min(len(text), SNIFF_BYTES)


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 text with a few broken bytes (a file cut mid-character, a stray byte), else None.

    Other encodings' non-ASCII bytes almost never form valid UTF-8 sequences, so text
    whose many multi-byte characters are valid is UTF-8, and its few bad bytes are damage.
    """
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", errors="ignore")) - bad  # counted in C: fast
    return text if good >= 20 and bad <= max(2, 0.01 * good) else None


def _detect(data: bytes) -> tuple[str, str] | None:
    """The most plausible reading of bytes that are not UTF-8, with its encoding, or None.

    Every candidate encoding that decodes the bytes cleanly is ranked: first by how common
    its characters are for its script (`_plausibility`), then by charset-normalizer's mess
    ratio and language coherence, then by how widely the encoding is used. Each candidate is
    measured here rather than taken from `charset_normalizer.from_bytes`, which stops at the
    first clean reading: for "Déjà vu" that is cp1257's "Déją vu".
    """
    ranked = []
    for order, encoding in enumerate(CANDIDATES):
        try:
            # The head is enough to rank by; `final=False` lets it end inside a character.
            head = codecs.getincrementaldecoder(encoding)().decode(data[:PREFIX_BYTES], False)
        except UnicodeDecodeError:
            continue
        head = head[:SNIFF_BYTES]
        if not _printable(head):
            continue
        coherence = max((ratio for _, ratio in coherence_ratio(head)), default=0.0)
        rank = (-round(_plausibility(head, encoding), 2), mess_ratio(head, 1.0), -coherence, order)
        ranked.append((rank, encoding))
    for _, encoding in sorted(ranked):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:  # the head decoded, a later byte does not
            continue
        if _printable(text):
            return text, codecs.lookup(encoding).name
    return None


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
    if (text := _mostly_utf8(data)) is not None and _printable(text):
        return text, "utf-8"
    if (found := _detect(data)) is not None:
        return found
    # Control bytes, not the 0x80-0x9F that latin-1 would also call controls: those are text
    # in many encodings.
    if _controls(sample.decode("ascii", errors="ignore")) > 0.01 * len(sample):
        raise NotText("binary file")
    raise NotText("not text in any known encoding (not UTF-8, GB18030, Big5, Shift-JIS, cp1252)")
