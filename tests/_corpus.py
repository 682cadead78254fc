"""A small corpus of our own for retrieval tests: English and Chinese, a PDF, HTML, broken files."""

from __future__ import annotations

from pathlib import Path

__all__ = ["BROKEN", "GOOD", "make_corpus", "make_pdf"]

WARRANTY = (
    "# Zephyr blender manual\n\n"
    "The Zephyr blender carries a warranty of seven years from the date of purchase.\n\n"
    "Clean the jug with warm water after each use. Do not put the motor base in water.\n"
)
GREAT_WALL = (
    "长城是中国古代的军事防御工程。明长城的总长度为八千八百五十一公里。长城始建于春秋战国时期。"
)
SOUP = (
    "<html><head><title>Recipes</title><style>.x{color:red}</style></head><body>"
    "<h1>Tomato soup</h1><p>Simmer the tomatoes for twenty minutes with basil.</p>"
    "<script>var secret = 'do not index me';</script></body></html>"
)
ASTRONOMY = "Mars has two small moons, called Phobos and Deimos.\n"

GOOD = (
    "manual.md",
    "great_wall.txt",
    "soup.html",
    "notes/astronomy.txt",
    "handbook.pdf",
    "latin1.txt",
)
"""The files `make_corpus` writes that can be read."""
BROKEN = ("image.txt", "empty.md", "locked.pdf")
"""The files `make_corpus` writes that cannot be read, each for its own reason."""


def make_pdf(path: Path, pages: list[str], *, password: str | None = None) -> Path:
    """Write a PDF with one page of text per item, optionally encrypted with a user password."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    if password:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter(clone_from=PdfReader(path))
        writer.encrypt(user_password=password, owner_password=password)
        with path.open("wb") as handle:
            writer.write(handle)
    return path


def make_corpus(folder: Path) -> Path:
    """Write the corpus into `folder` (created) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes").mkdir(exist_ok=True)
    (folder / "manual.md").write_text(WARRANTY, encoding="utf-8")
    (folder / "great_wall.txt").write_text(GREAT_WALL, encoding="utf-8")
    (folder / "soup.html").write_text(SOUP, encoding="utf-8")
    (folder / "notes" / "astronomy.txt").write_text(ASTRONOMY, encoding="utf-8")
    make_pdf(
        folder / "handbook.pdf",
        [
            "Employee handbook. Office hours are nine to five.",
            "Holidays: every employee receives twenty-eight days of paid leave per year.",
        ],
    )
    (folder / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "empty.md").write_text("  \n", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    make_pdf(folder / "locked.pdf", ["Secret plans."], password="hunter2")
    return folder
