"""mull's Streamlit app: `streamlit run ui/app.py`.

Pages: Ask (a chat that shows each node's work live), Threads (time travel:
checkpoints, replay, fork) and Evals (the reports of `mull eval` runs). The
sidebar picks the model and shows the server's health.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui._sidebar import draw_sidebar

PAGES = Path(__file__).resolve().parent / "pages"

# No page_icon: an icon other than Streamlit's own is fetched from the web, and mull is local.
st.set_page_config(page_title="mull", layout="wide")
draw_sidebar()
page = st.navigation(
    [
        st.Page(PAGES / "ask.py", title="Ask", icon=":material/chat:", default=True),
        st.Page(PAGES / "threads.py", title="Threads", icon=":material/account_tree:"),
        st.Page(PAGES / "evals.py", title="Evals", icon=":material/analytics:"),
    ]
)
page.run()
