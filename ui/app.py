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

from ui._session import start_session
from ui._sidebar import draw_sidebar

PAGES = Path(__file__).resolve().parent / "app_pages"

# An emoji icon: Streamlit draws it itself; a Material one is fetched from the web.
st.set_page_config(page_title="mull", page_icon="🧠", layout="wide")
start_session()
draw_sidebar()
page = st.navigation(
    [
        st.Page(PAGES / "ask.py", title="Ask", icon=":material/chat:", default=True),
        st.Page(PAGES / "threads.py", title="Threads", icon=":material/account_tree:"),
        st.Page(PAGES / "evals.py", title="Evals", icon=":material/analytics:"),
    ]
)
page.run()
