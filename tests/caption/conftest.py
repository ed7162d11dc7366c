"""Fixtures shared by the captioning tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread per test: two threads on a shared 2-core machine spin against each other (20x slower
    tiny steps), and a fixed count keeps float reductions in one order."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
