"""Run directories -> tables (markdown, CSV, LaTeX) and graphs (PNG)."""
