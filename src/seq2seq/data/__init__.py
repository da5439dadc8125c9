"""Data: tokenizers, vocabularies, corpus readers, built-in tasks and batching."""

from .batching import Batch, collate, make_batches, sort_for_inference
from .datasets import DataError, ReadResult, filter_long, format_inspection, inspect_file, read_pairs
from .tasks import TASKS, TaskSpec, generate_splits, get_task, to_book_line
from .tokenizers import Tokenizer, build_tokenizer, load_tokenizer, save_tokenizer
from .vocab import BOS, EOS, PAD, UNK, Vocab

__all__ = ["BOS", "EOS", "PAD", "TASKS", "UNK", "Batch", "DataError", "ReadResult", "TaskSpec", "Tokenizer",
           "Vocab", "build_tokenizer", "collate", "filter_long", "format_inspection", "generate_splits",
           "get_task", "inspect_file", "load_tokenizer", "make_batches", "read_pairs", "save_tokenizer",
           "sort_for_inference", "to_book_line"]
