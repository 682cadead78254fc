"""mull's Streamlit app: `streamlit run ui/app.py`.

Pages: Ask (a chat that shows each answer first, and how the run got there, live),
Threads (time travel: checkpoints, replay, fork) and Evals (the reports of
`mull eval` runs). Every page goes through this script: it sets up the session
(`ui._session`) and draws the sidebar (model choices, server health) first, so any
page can be the first a session opens. The pages live in `app_pages/`, not
`pages/`: Streamlit runs a `pages/` script on its own, without this one, when it is
the first page a process serves.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.errors import MullError
from ui._session import start_session
from ui._settings_errors import settings_problem
from ui._sidebar import draw_sidebar

PAGES = Path(__file__).resolve().parent / "app_pages"

# An emoji icon: Streamlit draws it itself; a Material one is fetched from the web.
st.set_page_config(page_title="mull", page_icon="🧠", layout="wide")


def _cannot_start(exc: Exception) -> None:
    """A setting or the checkpointer is unusable: say which and how to fix it, not a traceback."""
    from rich.text import Text  # the CLI's words for it are Rich markup

    problem = settings_problem(exc)
    if problem is not None:
        said = Text.from_markup(problem).plain.replace("\nFix:", "\n\n**Fix:**")
    elif isinstance(exc, MullError):
        said = f"{exc.message}\n\n**Fix:** {exc.hint}" if exc.hint else exc.message
    else:
        raise exc
    st.error(said, icon=":material/error:")
    st.stop()


try:
    start_session()
    draw_sidebar()
except Exception as exc:  # only what _cannot_start explains is caught; the rest is raised
    _cannot_start(exc)
page = st.navigation(
    [
        st.Page(PAGES / "ask.py", title="Ask", icon=":material/chat:", default=True),
        st.Page(PAGES / "threads.py", title="Threads", icon=":material/account_tree:"),
        st.Page(PAGES / "evals.py", title="Evals", icon=":material/analytics:"),
    ]
)
page.run()
