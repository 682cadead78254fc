"""Retrieval over the user's documents: load, chunk, index, search. No LLM inside.

from tools.retrieval import index_paths, open_index
index_paths(["docs/"])                      # into .mull/index, embedding only what changed
hits = open_index().search("What is the warranty period?", k=5).hits
"""

from schema import SearchHit  # what a search returns, part of this API
from tools.retrieval._dense import DenseIndex
from tools.retrieval.chunking import Chunk, split_pages
from tools.retrieval.documents import (
    SUPPORTED_SUFFIXES,
    DocumentError,
    DocumentPage,
    Found,
    LoadFailure,
    discover_files,
    load_file,
    unsupported_note,
)
from tools.retrieval.index import Index, IndexInfo, IndexNotFound, index_exists, open_index
from tools.retrieval.ingest import IndexProgress, IndexReport, index_paths, remove_paths
from tools.retrieval.rerank import CrossEncoder, rerank_hits, rerank_url
from tools.retrieval.search import SearchMode, SearchResults, fuse_rankings

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Chunk",
    "CrossEncoder",
    "DenseIndex",
    "DocumentError",
    "DocumentPage",
    "Found",
    "Index",
    "IndexInfo",
    "IndexNotFound",
    "IndexProgress",
    "IndexReport",
    "LoadFailure",
    "SearchHit",
    "SearchMode",
    "SearchResults",
    "discover_files",
    "fuse_rankings",
    "index_exists",
    "index_paths",
    "load_file",
    "open_index",
    "remove_paths",
    "rerank_hits",
    "rerank_url",
    "split_pages",
    "unsupported_note",
]
