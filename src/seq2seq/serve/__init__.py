"""`seq2seq serve`: a trained model behind an HTTP API (FastAPI + uvicorn) and a page to try it on."""

from .app import create_app
from .batcher import Batcher, Overloaded, ShuttingDown
from .options import ServeOptions
from .schema import model_info
from .server import serve

__all__ = ["Batcher", "Overloaded", "ServeOptions", "ShuttingDown", "create_app", "model_info", "serve"]
