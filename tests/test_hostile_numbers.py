"""Numbers no run can hold: a usage of NaN, a manifest of 1e20 tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from batchgen import pricing
from batchgen.cli import main
from batchgen.providers.aimlapi import parse_generation
from tests.helpers import FAST, write_manifest


@pytest.mark.parametrize("spent", ["NaN", "Infinity", "-Infinity", "-0.5", '"0.1"'])
def test_a_usage_that_is_no_amount_falls_back_to_the_price_table(spent: str) -> None:
    usage = f'{{"usd_spent": {spent}, "credits_used": {spent}}}'
    body = f'{{"data": [{{"url": "https://cdn.example/x.png"}}], "meta": {{"usage": {usage}}}}}'
    generation = parse_generation(body.encode(), model=FAST)
    reported = pricing.reported_usd(generation.usage)
    counted = pricing.charge(reported, table_usd=0.02, worst_usd=0.02)
    assert counted.usd == 0.02  # the table's price: never NaN, never a credit
    assert (counted.flag is not None) == (reported is not None)  # a number that is no amount


def test_a_good_usage_is_kept() -> None:
    body = (
        b'{"data": [{"url": "https://cdn.example/x.png"}], "meta": {"usage": {"usd_spent": 0.02}}}'
    )
    assert parse_generation(body, model=FAST).usage.usd == 0.02


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_manifest_of_1e20_tasks_is_refused_with_a_message(tmp_path: Path, command: str) -> None:
    values = ", ".join(str(i) for i in range(100))
    names = "abcdefghij"
    manifest = write_manifest(
        tmp_path,
        f"""
        version: 1
        models: [{FAST}]
        prompts:
          - template: "{"".join(f"{{{n}}}" for n in names)}"
            vars: {{{", ".join(f"{n}: [{values}]" for n in names)}}}
        """,
    )
    result = CliRunner().invoke(main, [command, str(manifest)])
    assert result.exit_code == 2, result.output
    assert "makes 100,000,000,000,000,000,000 tasks" in result.output
