"""The foundation: settings, model providers, structured output, checkpointers and errors.

`core` imports none of mull's other packages.
"""
