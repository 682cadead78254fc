"""Words for BM25, in English and in Chinese.

bm25s's own tokenizer keeps a run of Chinese characters as one "word", so a
question never matches a sentence unless it is the same sentence. Chinese is
written without spaces, so we index each Han character and each pair of
neighbouring characters (the bigrams that Lucene's CJK analyzer uses): no
dictionary to download, and two-character words, the most common kind, match
whole. Other scripts are split into lowercased words, stemmed with the
Snowball English stemmer (PyStemmer, which bm25s uses too), so that "banana"
finds "bananas".
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

__all__ = ["tokenize"]

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_APOSTROPHES = "'\u2019"
_TOKEN_RE = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+(?:[{_APOSTROPHES}][^\W_{_CJK}]+)*")
_CJK_RUN = re.compile(rf"[{_CJK}]")

# Words so common in English questions that they only add noise to BM25 scores.
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
    }
)


_STEMMER = Stemmer.Stemmer("english")


@lru_cache(maxsize=100_000)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def tokenize(text: str) -> list[str]:
    """The BM25 terms of a text: lowercased, stemmed words, and Han characters with their bigrams.

    Args:
        text: Any text, in any mix of scripts.

    Returns:
        The terms in order, repeated as often as they occur.
    """
    terms: list[str] = []
    for match in _TOKEN_RE.finditer(text.lower()):
        token = match.group()
        if _CJK_RUN.match(token):
            terms.extend(token)
            terms.extend(token[i : i + 2] for i in range(len(token) - 1))
        elif token not in _STOPWORDS:
            terms.append(_stem(token))
    return terms
