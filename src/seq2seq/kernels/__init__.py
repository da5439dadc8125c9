"""Kernels chosen by measurement where the program runs: the machine's description, the probe and its cache."""

from .machine import describe
from .probe import MODES, KernelReport, for_generation, for_training

__all__ = ["MODES", "KernelReport", "describe", "for_generation", "for_training"]
