"""What `batchgen plan` says to people: the plan's lines (the --json form is Plan.to_json)."""

from __future__ import annotations

from batchgen.plan import Plan


def plan_lines(name: str, plan: Plan) -> list[str]:
    """Tasks done and left, the cost of what is left, where a budget stops, limits assumed."""
    lines = [f"{name}: {plan.tasks:,} tasks, {plan.images:,} images"]
    if plan.done:
        lines.append(f"  already done in {plan.run_dir}: {plan.done:,}; left: {plan.left:,}")
    cost = f"  estimated cost ${plan.cost_usd:,.2f}"
    cost += " of what is left" if plan.done else ""
    if plan.unpriced:
        cost += f" (not counted, no known price: {', '.join(plan.unpriced)})"
    lines.append(f"{cost}; duration ~{duration_text(plan.duration_s)}")
    lines += _budget_lines(plan)
    concurrency = plan.concurrency or f"adaptive (estimated at {plan.assumed_concurrency})"
    rpm = plan.requests_per_minute or "no limit"
    lines.append(f"  at concurrency {concurrency}, requests per minute {rpm}")
    for model in plan.by_model:
        price = "price unknown" if model.cost_usd is None else f"${model.cost_usd:,.2f}"
        left = f", {model.left:,} left" if model.done else ""
        lines.append(
            f"  {model.model}: {model.tasks:,} tasks{left}, {model.images:,} images, {price}, "
            f"assumed latency {model.latency_s:.1f}s"
        )
    lines.append(f"  output: {plan.run_dir}")
    return lines


def _budget_lines(plan: Plan) -> list[str]:
    budget = plan.budget
    if budget is None:
        return []
    cap = f"  budget ${budget.max_usd:,.2f}"
    if budget.scope == "job":
        cap += f" for the whole job (${budget.spent_usd:,.2f} spent already)"
    if budget.tasks is None:
        return [f"{cap}: where it stops is unknown (models with no price)"]
    if budget.tasks >= plan.left:
        return [f"{cap}: covers every task left"]
    share = budget.fraction or 0.0
    return [
        f"{cap}: stops the run after ~{budget.tasks:,} of {plan.left:,} tasks left ({share:.0%})"
    ]


def duration_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
