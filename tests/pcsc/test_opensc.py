"""OpenSC's PKCS#11 module over the emulated card: the fixture the PKCS#11 driver builds on."""

from __future__ import annotations

import os
import subprocess

import pytest
from testbed.pcsc_bed import OpenScBed

pytestmark = pytest.mark.opensc


def test_pkcs11_tool_lists_the_card_tokens(opensc: OpenScBed) -> None:
    result = subprocess.run(
        ["pkcs11-tool", "--module", str(opensc.module), "-L"],
        env={**os.environ, **opensc.env}, capture_output=True, text=True, timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert opensc.user_token_label in result.stdout
    assert opensc.sign_token_label in result.stdout
    assert "serial num         : fffe00000001" in result.stdout
