"""Exceptions that carry a message meant for the person who gave the input."""


class HlmrepError(Exception):
    """Base class: every error hlmrep raises on purpose says what was expected."""


class ModelSpecificationError(HlmrepError, ValueError):
    """A formula, or its combination with the data, cannot define the model asked for."""


class InputDataError(HlmrepError, ValueError):
    """An input file is missing, malformed or inconsistent; the message names file, column, rows."""


class ConfigError(HlmrepError, ValueError):
    """config.yaml does not match its schema; the message gives the path of each problem."""
