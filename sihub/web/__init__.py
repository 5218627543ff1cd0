"""The web edge: HTTP API (FastAPI) and web chat (Gradio) served together by `sihub serve`."""

from .app import create_app, serve

__all__ = ["create_app", "serve"]
