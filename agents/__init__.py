"""The roles: one module per role, each holding its prompt, output schema and node functions."""
