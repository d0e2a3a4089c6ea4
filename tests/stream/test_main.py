"""Every log level the worker's command accepts is one faust's worker accepts too."""

from __future__ import annotations

import pytest
from faust.cli.base import LOGLEVELS as FAUST_LEVELS

from stream.__main__ import LOGLEVELS, faust_loglevel


@pytest.mark.parametrize("level", LOGLEVELS)
def test_each_level_of_ours_is_a_level_faust_takes(level: str) -> None:
    assert faust_loglevel(level).upper() in FAUST_LEVELS
