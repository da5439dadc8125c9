"""Data: tokenizers, vocabularies, file readers, built-in tasks, the token and feature sides, and batching."""

from .batching import Batch, collate, make_batches, sort_for_inference
from .datasets import DataError, ReadResult, format_inspection, inspect_file, read_pairs
from .sides import SIDES, FeatureSide, Side, TokenSide
from .tasks import TASKS, TaskSpec, generate_splits, get_task, to_book_line
from .tokenizers import Tokenizer, build_tokenizer, load_tokenizer, save_tokenizer
from .vocab import BOS, EOS, PAD, UNK, Vocab

__all__ = ["BOS", "EOS", "PAD", "SIDES", "TASKS", "UNK", "Batch", "DataError", "FeatureSide", "ReadResult", "Side",
           "TaskSpec", "TokenSide", "Tokenizer", "Vocab", "build_tokenizer", "collate", "format_inspection",
           "generate_splits", "get_task", "inspect_file", "load_tokenizer", "make_batches", "read_pairs",
           "save_tokenizer", "sort_for_inference", "to_book_line"]
