"""The document index against the fake server: ingest, search, incremental and atomic writes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.errors import InvalidInput, MullError
from tests._corpus import BROKEN, GOOD, make_corpus
from tools.retrieval import (
    IndexNotFound,
    fuse_rankings,
    index_paths,
    open_index,
    remove_paths,
)
from tools.retrieval._tokenize import tokenize

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "docs")


@pytest.fixture
def settings(make_settings, tmp_path: Path):
    return make_settings(index_dir=tmp_path / "index")


def embedded_texts(server) -> list[str]:
    """Every text the fake server was asked to embed, in order."""
    texts = []
    for request in server.requests:
        if request.path in ("/api/embed", "/v1/embeddings") and request.body:
            value = request.body.get("input")
            texts += value if isinstance(value, list) else [value]
    return texts


def names(paths: list[str]) -> set[str]:
    return {Path(p).name for p in paths}


def test_indexes_every_kind_and_reports_broken_files_by_name(server, corpus, settings):
    report = index_paths([corpus], settings=settings)

    assert names(report.added) == {Path(p).name for p in GOOD}
    reasons = {Path(f.source).name: f.reason for f in report.failures}
    assert set(reasons) == set(BROKEN)
    assert reasons["image.txt"] == "binary file"
    assert reasons["empty.md"] == "empty"
    assert "encrypted" in reasons["locked.pdf"]
    assert report.chunks_total == report.vectors_total == report.embedded > 0
    assert report.dense_note is None

    index = open_index(settings=settings)
    texts = " ".join(hit.text for hit in index.search("tomato soup recipe", k=10).hits)
    assert "Simmer the tomatoes" in texts and "do not index me" not in texts  # visible text only


@pytest.mark.parametrize(
    ("query", "source", "phrase"),
    [
        ("How many days of paid leave do employees get?", "handbook.pdf", "twenty-eight days"),
        ("How long is the Zephyr warranty?", "manual.md", "seven years"),
        ("明长城有多长？", "great_wall.txt", "八千八百五十一公里"),
        ("What are the moons of Mars called?", "astronomy.txt", "Phobos"),
    ],
)
def test_search_finds_the_planted_passage_in_the_top_3(
    server, corpus, settings, query, source, phrase
):
    index_paths([corpus], settings=settings)
    results = open_index(settings=settings).search(query, k=3)

    assert results.mode == "hybrid" and results.note is None
    top = [hit for hit in results.hits if Path(hit.source).name == source]
    assert top and phrase in top[0].text
    hit = top[0]
    # Both rankings and the fused score are kept for inspection.
    assert hit.bm25_rank is not None and hit.dense_rank is not None
    assert hit.score == pytest.approx(1 / (60 + hit.bm25_rank) + 1 / (60 + hit.dense_rank))


def test_pdf_hits_keep_their_page_and_offsets(server, corpus, settings):
    index_paths([corpus], settings=settings)
    hit = open_index(settings=settings).search("paid leave holidays", k=1).hits[0]

    assert (Path(hit.source).name, hit.page) == ("handbook.pdf", 2)
    assert hit.end - hit.start == len(hit.text)
    assert hit.location.endswith("handbook.pdf, page 2")


def test_reindexing_embeds_only_the_changed_file_and_drops_deleted_ones(server, corpus, settings):
    index_paths([corpus], settings=settings)
    server.requests.clear()

    unchanged = index_paths([corpus], settings=settings)
    assert unchanged.unchanged == len(GOOD) and not unchanged.changed
    assert embedded_texts(server) == []

    (corpus / "manual.md").write_text("The Zephyr warranty is now ten years.\n", encoding="utf-8")
    (corpus / "notes" / "astronomy.txt").unlink()
    report = index_paths([corpus], settings=settings)

    assert names(report.updated) == {"manual.md"} and names(report.removed) == {"astronomy.txt"}
    assert embedded_texts(server) == ["The Zephyr warranty is now ten years."]
    index = open_index(settings=settings)
    assert {Path(f.path).name for f in index.files()} == {
        Path(p).name for p in GOOD if p != "notes/astronomy.txt"
    }
    assert "ten years" in index.search("Zephyr warranty", k=1).hits[0].text
    assert all("Phobos" not in hit.text for hit in index.search("moons of Mars", k=10).hits)
    assert index.info().vectors == index.info().chunks


def test_indexing_another_folder_keeps_the_first(server, corpus, settings, tmp_path):
    index_paths([corpus], settings=settings)
    other = tmp_path / "other"
    other.mkdir()
    (other / "cats.md").write_text("Cats sleep sixteen hours a day.", encoding="utf-8")

    report = index_paths([other], settings=settings)

    assert report.removed == [] and report.files_total == len(GOOD) + 1


def test_remove_paths_takes_files_and_folders_out(server, corpus, settings):
    index_paths([corpus], settings=settings)

    report = remove_paths([corpus / "notes", corpus / "soup.html"], settings=settings)

    assert names(report.removed) == {"astronomy.txt", "soup.html"}
    index = open_index(settings=settings)
    assert report.files_total == len(index.files()) == len(GOOD) - 2
    assert index.info().vectors == index.info().chunks
    with pytest.raises(InvalidInput, match="Nothing in the index"):
        remove_paths([corpus / "soup.html"], settings=settings)


def test_without_an_embedding_model_it_works_on_bm25_and_says_so(server, corpus, settings):
    server.models.remove("bge-m3")
    report = index_paths([corpus], settings=settings)

    assert report.vectors_total == 0 and report.chunks_total > 0
    assert "bge-m3" in report.dense_note and "BM25" in report.dense_note
    assert "MULL_EMBEDDING_MODEL" in report.dense_note
    results = open_index(settings=settings).search("Zephyr warranty", k=3)
    assert results.mode == "bm25" and "BM25" in results.note
    assert "seven years" in results.hits[0].text

    # Once the model is there, the next run embeds what has no vector, and nothing else changes.
    server.models.append("bge-m3")
    again = index_paths([corpus], settings=settings)
    assert again.embedded == again.chunks_total == again.vectors_total
    assert open_index(settings=settings).search("Zephyr warranty", k=3).mode == "hybrid"


def test_a_new_embedding_model_re_embeds_everything(server, corpus, settings, make_settings):
    index_paths([corpus], settings=settings)
    server.models.append("nomic-embed-text")
    other = make_settings(index_dir=settings.index_dir, embedding_model="nomic-embed-text")

    report = index_paths([corpus], settings=other)

    assert report.embedded == report.chunks_total and report.embedding_model == "nomic-embed-text"
    assert open_index(settings=other).embedding_model == "nomic-embed-text"


def test_the_index_is_loaded_once_and_reloaded_only_after_a_write(server, corpus, settings):
    index_paths([corpus], settings=settings)
    first = open_index(settings=settings)
    first.search("warranty", k=1)

    assert open_index(settings=settings) is first
    (corpus / "new.md").write_text("Penguins live in the southern hemisphere.", encoding="utf-8")
    index_paths([corpus], settings=settings)

    second = open_index(settings=settings)
    assert second is not first and second.generation == first.generation + 1
    assert "Penguins" in second.search("penguin", k=1).hits[0].text
    # The old one still answers from what it loaded: nobody searching it is cut off.
    assert first.search("warranty", k=1).hits


_CRASH = textwrap.dedent(
    """
    import os, sys
    from core.settings import Settings
    from tools.retrieval import _lexical, index_paths

    real_save = _lexical.LexicalIndex.save

    def save_then_die(self, folder):
        real_save(self, folder)  # the new generation's files are half there...
        os._exit(9)              # ...and the process dies before the commit

    _lexical.LexicalIndex.save = save_then_die
    settings = Settings(_env_file=None, ollama_host=sys.argv[1], index_dir=sys.argv[2])
    index_paths([sys.argv[3]], settings=settings)
    """
)


def test_a_crash_mid_write_leaves_the_previous_index_whole(server, corpus, tmp_path):
    from tests.conftest import settings_for

    settings = settings_for(server, "ollama", index_dir=tmp_path / "index")
    index_paths([corpus], settings=settings)
    before = open_index(settings=settings).info()
    (corpus / "manual.md").write_text("The warranty is void if wet.", encoding="utf-8")

    crashed = subprocess.run(
        [sys.executable, "-c", _CRASH, server.url, str(tmp_path / "index"), str(corpus)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert crashed.returncode == 9, crashed.stderr
    assert (tmp_path / "index" / f"bm25-{before.generation + 1}").exists()  # the torn write
    index = open_index(settings=settings)
    assert index.info() == before
    assert "seven years" in index.search("Zephyr warranty", k=1).hits[0].text

    report = index_paths([corpus], settings=settings)  # the next run goes on and tidies up
    assert names(report.updated) == {"manual.md"}
    leftovers = {
        p.name for p in (tmp_path / "index").iterdir() if not p.name.startswith(("docstore", "."))
    }
    generation = open_index(settings=settings).generation
    assert leftovers == {f"bm25-{generation}", f"dense-{generation}.faiss"}


def test_one_writer_at_a_time(server, corpus, settings):
    import fcntl

    Path(settings.index_dir).mkdir(parents=True)
    with (Path(settings.index_dir) / ".lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(MullError, match="Another mull process"):
            index_paths([corpus], settings=settings)


def test_hnsw_above_the_threshold_still_finds_and_removes(server, corpus, settings, make_settings):
    small = make_settings(index_dir=settings.index_dir, hnsw_threshold=3)
    index_paths([corpus], settings=small)
    index = open_index(settings=small)
    assert index.info().approximate
    assert "seven years" in index.search("Zephyr warranty", k=1).hits[0].text

    remove_paths([corpus / "manual.md"], settings=small)
    index = open_index(settings=small)
    assert index.info().vectors == index.info().chunks
    assert all("Zephyr" not in hit.text for hit in index.search("Zephyr warranty", k=10).hits)


def test_bad_input_is_named(server, corpus, settings, tmp_path):
    with pytest.raises(IndexNotFound, match="mull index"):
        open_index(tmp_path / "nowhere", settings)
    report = index_paths([tmp_path / "missing.md"], settings=settings)
    assert report.failures[0].source.endswith("missing.md") and report.chunks_total == 0
    with pytest.raises(IndexNotFound):  # indexing nothing leaves no empty index behind
        open_index(settings=settings)
    with pytest.raises(InvalidInput, match="No files"):
        index_paths([], settings=settings)
    index_paths([corpus], settings=settings)
    with pytest.raises(InvalidInput, match="empty"):
        open_index(settings=settings).search("   ")


def test_dense_mode_without_vectors_is_an_error_not_a_silent_fallback(server, corpus, settings):
    server.models.remove("bge-m3")
    index_paths([corpus], settings=settings)
    with pytest.raises(MullError, match="no vectors"):
        open_index(settings=settings).search("warranty", mode="dense")


def test_fusion_rewards_agreement_and_keeps_both_scores():
    fused = fuse_rankings([(1, 9.0), (2, 5.0)], [(2, 0.9), (3, 0.8)])

    assert [chunk for chunk, _, _ in fused] == [2, 1, 3]
    _, score, parts = fused[0]
    assert score == pytest.approx(1 / 62 + 1 / 61)
    assert parts == {"bm25_rank": 2, "bm25_score": 5.0, "dense_rank": 1, "dense_score": 0.9}


def test_tokens_suit_english_and_chinese():
    assert tokenize("The Bananas are RIPE") == ["banana", "ripe"]
    assert tokenize("长城很长") == ["长", "城", "很", "长", "长城", "城很", "很长"]


def test_an_unavailable_new_embedding_model_keeps_the_old_vectors(
    server, corpus, settings, make_settings
):
    index_paths([corpus], settings=settings)
    typo = make_settings(index_dir=settings.index_dir, embedding_model="bge-m4")

    report = index_paths([corpus], settings=typo)

    assert "bge-m4" in report.dense_note and report.vectors_total == report.chunks_total
    index = open_index(settings=settings)
    assert index.embedding_model == "bge-m3" and index.search("warranty").mode == "hybrid"


def test_chunk_ids_are_never_reused(server, corpus, settings):
    index_paths([corpus], settings=settings)
    before = open_index(settings=settings)
    old_ids = {hit.chunk_id for hit in before.search("Zephyr warranty", k=10).hits}
    (corpus / "soup.html").unlink()
    (corpus / "manual.md").write_text("Zephyr warranty: ten years.", encoding="utf-8")
    index_paths([corpus], settings=settings)

    new = open_index(settings=settings).search("Zephyr warranty ten years", k=1).hits[0]
    assert new.chunk_id > max(old_ids)


def test_hnsw_explores_more_candidates_as_it_grows_even_in_older_files(tmp_path: Path):
    import faiss
    import numpy as np

    from tools.retrieval._dense import DenseIndex, ef_search_for

    assert (ef_search_for(100_000), ef_search_for(1_000_000)) == (192, 607)
    assert ef_search_for(10) == 64 and ef_search_for(100_000_000) == 1024
    vectors = np.random.default_rng(0).standard_normal((40, 8))
    exact = DenseIndex.new(8, hnsw_threshold=100)
    exact.add(range(40), vectors)
    assert exact.ef_search is None
    hnsw = DenseIndex.new(8, hnsw_threshold=30)
    hnsw.add(range(40), vectors)
    assert hnsw.approximate and hnsw.ef_search == ef_search_for(40)
    hnsw.save(tmp_path / "dense.faiss")
    loaded = DenseIndex.load(tmp_path / "dense.faiss", hnsw_threshold=30)
    faiss.downcast_index(loaded._index.index).hnsw.efSearch = 16  # as a file saved before
    assert loaded.search(vectors[7], 1)[0][0] == 7
    assert faiss.downcast_index(loaded._index.index).hnsw.efSearch == ef_search_for(40)
    loaded.ef_search = 200
    loaded.search(vectors[7], 1)
    assert faiss.downcast_index(loaded._index.index).hnsw.efSearch == 200
