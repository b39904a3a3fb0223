"""The run's hard spending cap (``judgekit.engine.budget``): reserve the worst case, settle
the real cost, never spend past the limit whatever the concurrency."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest
from anyio.abc import TaskGroup
from anyio.lowlevel import checkpoint
from conftest import DEFAULT_JUDGES

from judgekit.engine.budget import Budget

if TYPE_CHECKING:
    from conftest import Workspace


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only: the engine runs on asyncio (aiohttp)."""
    return "asyncio"


async def start_reserving(tg: TaskGroup, budget: Budget, worst_usd: float) -> list[bool]:
    """Start ``budget.reserve(worst_usd)`` in the background; its answer lands in the list
    (empty while it waits)."""
    answer: list[bool] = []

    async def reserve() -> None:
        answer.append(await budget.reserve(worst_usd))

    tg.start_soon(reserve)
    await anyio.wait_all_tasks_blocked()
    return answer


@pytest.mark.anyio
async def test_without_a_limit_everything_is_reserved_and_spend_is_counted() -> None:
    budget = Budget(None)
    assert all([await budget.reserve(1e9) for _ in range(5)])
    for _ in range(5):
        budget.settle(1e9, 0.25)
    assert (budget.spent_usd, budget.remaining_usd, budget.exhausted) == (1.25, None, False)


@pytest.mark.anyio
async def test_reservations_fit_up_to_the_limit_inclusive() -> None:
    budget = Budget(1.0)
    assert await budget.reserve(0.5)
    assert await budget.reserve(0.5)
    assert budget.reserved_usd == 1.0
    budget.settle(0.5, 0.125)
    budget.settle(0.5, 0.125)
    assert (budget.spent_usd, budget.reserved_usd, budget.remaining_usd) == (0.25, 0.0, 0.75)


@pytest.mark.anyio
async def test_a_call_that_does_not_fit_waits_for_calls_in_flight_to_settle() -> None:
    budget = Budget(1.0)
    assert await budget.reserve(0.6)
    async with anyio.create_task_group() as tg:
        waiting = await start_reserving(tg, budget, 0.6)
        assert waiting == []  # 0.6 + 0.6 > 1: it waits rather than fail
        budget.settle(0.6, 0.1)  # the real cost was far below the worst case
    assert waiting == [True]
    assert budget.reserved_usd == 0.6
    assert not budget.exhausted


@pytest.mark.anyio
async def test_with_nothing_in_flight_a_call_that_does_not_fit_exhausts_the_budget() -> None:
    budget = Budget(1.0)
    assert await budget.reserve(0.6)
    async with anyio.create_task_group() as tg:
        waiting = await start_reserving(tg, budget, 0.6)
        budget.settle(0.6, 0.5)  # spent 0.5: another 0.6 can never fit
    assert waiting == [False]
    assert budget.exhausted
    assert budget.spent_usd == 0.5


@pytest.mark.anyio
async def test_once_exhausted_no_call_starts_again_however_small() -> None:
    budget = Budget(0.01)
    assert not await budget.reserve(0.02)
    assert budget.exhausted
    assert not await budget.reserve(0.000001)
    assert (budget.spent_usd, budget.reserved_usd) == (0.0, 0.0)


@pytest.mark.anyio
async def test_every_waiter_learns_of_the_exhaustion() -> None:
    budget = Budget(1.0)
    assert await budget.reserve(0.9)
    async with anyio.create_task_group() as tg:
        waiters = [await start_reserving(tg, budget, 0.5) for _ in range(5)]
        budget.settle(0.9, 0.9)
    assert waiters == [[False]] * 5


@pytest.mark.anyio
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_spend_never_exceeds_the_limit_under_heavy_concurrency(seed: int) -> None:
    rng = random.Random(seed)
    limit = 1.0
    budget = Budget(limit)
    started = 0
    highest = 0.0

    async def call() -> None:
        nonlocal started, highest
        worst = rng.uniform(0.01, 0.2)
        if not await budget.reserve(worst):
            return
        started += 1
        assert budget.spent_usd + budget.reserved_usd <= limit + 1e-12
        for _ in range(rng.randrange(3)):
            await checkpoint()
        budget.settle(worst, worst * rng.uniform(0.0, 1.0))
        highest = max(highest, budget.spent_usd)

    async with anyio.create_task_group() as tg:
        for _ in range(300):
            tg.start_soon(call)
    assert highest <= limit
    assert budget.spent_usd <= limit
    assert budget.reserved_usd == pytest.approx(0.0, abs=1e-12)
    assert budget.exhausted
    assert 0 < started < 300


# -- end to end: the cap holds whatever the server reports ---------------------------------

PROTOCOLS = ["chat_completions", "responses", "anthropic"]


def priced_config(
    ws: Workspace, protocol: str, *, input_usd: float, output_usd: float, extra: str = ""
) -> Path:
    """One ``correctness`` judge on a ``protocol`` connection to the fake, at these prices."""
    base_url = ws.fake.url if protocol == "anthropic" else ws.fake.openai_base_url
    connection = (
        f'[connections.fake]\nprotocol = "{protocol}"\nbase_url = "{base_url}"\n'
        f'model = "fake-judge"\napi_key_env = "{ws.key_env}"\n'
        f"input_usd_per_mtok = {input_usd}\noutput_usd_per_mtok = {output_usd}\n{extra}\n"
    )
    path = ws.root / "judges.toml"
    path.write_text(f"[run]\nconcurrency = 4\n{connection}{DEFAULT_JUDGES}", encoding="utf-8")
    return path


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=PROTOCOLS)
def test_replies_without_usage_keep_their_worst_case_charged(
    workspace: Workspace, protocol: str
) -> None:
    # Worst case of a call: 200 output tokens at $1/Mtok (input is free) = $0.0002, so a
    # $0.001 budget covers exactly five calls whose cost nobody reports.
    workspace.fake.settings.omit_usage = True
    config = priced_config(
        workspace, protocol, input_usd=0.0, output_usd=1.0, extra="max_output_tokens = 200"
    )
    data = workspace.write_rows(workspace.qa_rows(12))
    output = workspace.root / "out.parquet"
    summary = workspace.root / "summary.json"
    result = workspace.score(
        data, config, output, "--budget-usd", "0.001", "--summary-json", str(summary)
    )
    assert result.exit_code == 1
    assert workspace.fake.stats().requests == 5
    rows = workspace.read_rows(output)
    scored = [r for r in rows if r["correctness_error"] is None]
    assert len(scored) == 5
    for row in scored:
        assert row["correctness_score"] is not None
        columns = ("cost_usd", "input_tokens", "output_tokens")
        assert [row[f"correctness_{c}"] for c in columns] == [None, None, None]
    assert [r["correctness_error"] for r in rows].count("budget_exhausted") == 7
    notice = (
        "judgekit: connection 'fake': a reply reported no token usage: its cost is unknown, "
        "so its worst case stays charged against the budget, and its row's cost and token "
        "columns are null (said once)"
    )
    assert result.stderr.splitlines().count(notice) == 1
    figures = json.loads(summary.read_text())
    assert (figures["spent_usd"], figures["input_tokens"], figures["output_tokens"]) == (0, 0, 0)
    assert figures["calls_without_usage"] == 5
    assert figures["charged_without_usage_usd"] == pytest.approx(0.001)
    spent = dict(row[:2] for row in workspace.table(result.stderr))["spent"]
    assert spent == (
        "$0.0000 + unknown (5 replies reported no usage; their worst case, $0.0010, is "
        "charged to the budget) of $0.001 budget"
    )


def dense_rows(n: int) -> list[dict[str, str]]:
    """Rows whose answers are hex ids: text a tokenizer bills at ~0.6 tokens a byte."""
    rows = []
    for i in range(n):
        ids = " ".join(hashlib.sha256(f"{i}-{k}".encode()).hexdigest() for k in range(30))
        rows.append(
            {
                "id": f"r{i}",
                "question": f"Which ids are in batch {i}?",
                "answer": ids,
                "reference": ids,
            }
        )
    return rows


@pytest.mark.parametrize("tokens_per_byte", [0.6, 1.0], ids=["hex-0.6", "worst-1.0"])
def test_dense_prompts_never_overspend_the_budget(
    workspace: Workspace, tokens_per_byte: float
) -> None:
    # The fake bills every prompt byte at 0.6 tokens (what hex ids really cost) or at 1.0
    # (no byte-level tokenizer bills more): the reservation must still bound every call.
    workspace.fake.settings.input_tokens_per_byte = tokens_per_byte
    config = priced_config(
        workspace,
        "chat_completions",
        input_usd=1.0,
        output_usd=2.0,
        extra="max_output_tokens = 64",
    )
    config.write_text(config.read_text().replace("concurrency = 4", "concurrency = 8"))
    data = workspace.write_rows(dense_rows(30))
    output = workspace.root / "out.parquet"
    summary = workspace.root / "summary.json"
    budget = 0.05
    result = workspace.score(
        data, config, output, "--budget-usd", str(budget), "--summary-json", str(summary)
    )
    assert result.exit_code == 1  # the budget ran out before the last row
    stats = workspace.fake.stats()
    billed_usd = (stats.input_tokens * 1.0 + stats.output_tokens * 2.0) / 1e6
    assert billed_usd <= budget
    rows = workspace.read_rows(output)
    errors = [r["correctness_error"] for r in rows]
    assert 0 < errors.count(None) < 30
    assert set(errors) == {None, "budget_exhausted"}
    assert sum(r["correctness_cost_usd"] for r in rows) == pytest.approx(billed_usd)
    assert json.loads(summary.read_text())["spent_usd"] == pytest.approx(billed_usd, abs=1e-6)
