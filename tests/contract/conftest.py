"""The ``venue`` fixture: every test of the broker contract runs once per venue module
in ``contract_venues/`` (see its docstring for how an adapter registers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType

import pytest
from contract_venues import Venue, venue_modules

MODULES = venue_modules()


@pytest.fixture(params=MODULES, ids=[str(module.NAME) for module in MODULES])
async def venue(request: pytest.FixtureRequest) -> AsyncIterator[Venue]:
    module: ModuleType = request.param
    async with module.open_venue() as opened:
        yield opened
