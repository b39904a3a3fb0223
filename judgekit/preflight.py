"""``validate``'s warnings: what a run would accept but regret once it has spent.

Errors (a missing column, an unknown price under a budget, an output that cannot
be written) are raised by ``engine.plan`` and ``output.check_output_path``, the
same checks ``score`` makes.  What is here is legal but probably not meant:

* a ``human_label`` column the dataset lacks (``agreement`` would refuse the
  scored file after the money is spent);
* no ``id_column`` in the dataset (rows are named by their 0-based index);
* a model without a known price and no budget (cost columns stay null).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from judgekit.config import Config
from judgekit.datasets import DatasetInfo
from judgekit.engine.plan import RunPlan


def run_warnings(
    config: Config, source: str, plan: RunPlan, dataset: DatasetInfo | None
) -> list[str]:
    """One line per doubtful setting (see the module docstring), in config order."""
    index = {judge.name: i for i, judge in enumerate(config.judges)}
    warnings: list[str] = []
    if dataset is not None and dataset.id_column is None:
        column = config.run.id_column
        warnings.append(
            f"{dataset.path}: no id column '{column}'{_guess(column, dataset.columns)}; rows "
            "will be identified by their 0-based row index (set [run] id_column to the "
            "column that names each row)"
        )
    for judge in plan.judges:
        where = f"{source}: judges[{index[judge.name]}]"
        human = config.judges[index[judge.name]].human_label
        if dataset is not None and human is not None and human not in dataset.columns:
            warnings.append(
                f"{where}.human_label: no column '{human}' in {dataset.path}"
                f"{_guess(human, dataset.columns)}; `judgekit agreement` will need it "
                f"(columns: {', '.join(dataset.columns)})"
            )
        if judge.is_llm and judge.price is None and plan.budget_usd is None:
            connection = judge.connection.name if judge.connection else "..."
            warnings.append(
                f"{where}: no known price for model '{judge.model}'; {judge.name}_cost_usd "
                "will be null and no budget can cap it (set input_usd_per_mtok and "
                f"output_usd_per_mtok on connections.{connection})"
            )
    return warnings


def _guess(name: str, columns: Sequence[str]) -> str:
    """``; did you mean 'x'?`` for the closest column (case-insensitively), or nothing."""
    by_lower = {column.lower(): column for column in columns}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean '{by_lower[close[0]]}'?)" if close else ""
