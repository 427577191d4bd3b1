"""Errors a user can cause. The CLI prints them in one line and exits with code 2."""

from __future__ import annotations


class SkelkitError(Exception):
    """An error caused by input the user controls (file, config, option).

    The message names the file, line or key and says what to do. The CLI prints it
    without a traceback (unless ``--debug``) and exits with :attr:`exit_code`.
    """

    exit_code = 2


class ConfigError(SkelkitError):
    """A bad configuration key or value."""


class PluginError(SkelkitError):
    """A plugin that is unknown, broken, or a component name that is ambiguous or unknown."""


class DataError(SkelkitError):
    """A raw or preprocessed data file that can not be used."""
