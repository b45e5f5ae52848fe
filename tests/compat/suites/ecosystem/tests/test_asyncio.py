import asyncio

import pytest
import pytest_asyncio


@pytest_asyncio.fixture
async def value():
    await asyncio.sleep(0.01)
    return 42


@pytest.mark.asyncio
async def test_async_fixture_and_sleep(value):
    await asyncio.sleep(0.01)
    assert value == 42


@pytest.mark.asyncio
async def test_async_failure():
    await asyncio.sleep(0)
    assert 1 == 2
