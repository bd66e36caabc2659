"""The workers' malloc settings take on glibc (this project's servers run on it)."""

from __future__ import annotations

import platform

import pytest

from berth import malloc_tuning


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_accepts_the_settings() -> None:
    assert malloc_tuning.keep_large_buffers() is True
