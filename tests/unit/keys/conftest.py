"""A SoftHSM 2 token directory for this test process (SoftHSM reads it once per process)."""

from __future__ import annotations

import os

import pytest

from tests.support.softhsm import MODULE, Token, new_token, softhsm_dir


@pytest.fixture(scope="session")
def hsm_token(tmp_path_factory: pytest.TempPathFactory) -> Token:
    """One token for the process: SoftHSM sees the tokens there are when the module loads,
    so the tests tell their keys apart by label."""
    if not MODULE.is_file():
        pytest.fail(f"{MODULE} is missing: `make unit` installs Debian's softhsm2")
    conf = softhsm_dir(tmp_path_factory.mktemp("hsm"))
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read when the module first loads, in this process
    return new_token(conf)
