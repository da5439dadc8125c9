"""`seq2seq serve`: a trained model behind an HTTP API (FastAPI + uvicorn) and a page to try it on."""

from .app import ServeOptions, create_app, model_info, serve
from .batcher import Batcher

__all__ = ["Batcher", "ServeOptions", "create_app", "model_info", "serve"]
