"""How the bench prints: each figure on a line beside its floor and its goal, then a verdict.

    <label>                         <figure>                  floor <floor>        goal <goal>   met

`row()` makes one such line; the `*_section()` functions turn each part's results into
lines. A figure with no floor or goal prints "—" there; a verdict is "met", "NOT MET"
or nothing (a figure for information).
"""

import statistics

from tests.bench.holds import Phase, percentile, spread

LABEL, FIGURE, FLOOR, GOAL = 36, 34, 26, 26


def row(label: str, figure: str, floor: str = "—", goal: str = "—", met: bool | None = None) -> str:
    verdict = "" if met is None else ("met" if met else "NOT MET")
    return (
        f"    {label:<{LABEL}} {figure:<{FIGURE}} floor {floor:<{FLOOR}} goal {goal:<{GOAL}} "
        f"{verdict}"
    ).rstrip()


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def milliseconds(value: float) -> str:
    return f"{value * 1000:.1f} ms"


def three(values: list[float], unit=seconds) -> str:
    """'min … / median … / max …' of repeated measurements."""
    return f"{unit(min(values))} / {unit(statistics.median(values))} / {unit(max(values))}"


# --- holds ------------------------------------------------------------------------------------


def gateway_lines(calls: dict, holds: int) -> tuple[str, list[str]]:
    """The proxy's counters: (calls per hold, [the busiest routes, the injected errors])."""
    injected = calls.get("injected", {})
    total = sum(injected.values())
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(injected.items())) or "none"
    routes = ", ".join(
        f"{route} {count:,}"
        for route, count in sorted(calls.get("routes", {}).items(), key=lambda kv: -kv[1])[:4]
    )
    return (
        f"{calls.get('calls', 0) / max(holds, 1):.2f} per hold ({calls.get('calls', 0):,} calls)",
        [
            f"gateway calls by route: {routes}; at most {calls.get('most_in_flight', 0)} at once",
            f"{total} errors injected ({kinds}); {calls.get('replayed', 0)} answers replayed"
            " for a retried idempotency key",
        ],
    )


def holds_section(phase: Phase, *, goal_p99: float) -> list[str]:
    result, holds = phase.outcome, phase.holds
    late = result.lateness()
    floor = phase.floor
    others = ", ".join(f"{k} {v}" for k, v in sorted(result.states.items()) if k != "held")
    lines = [
        f"  {phase.label}",
        row(
            "holds placed (held)",
            f"{result.states.get('held', 0):,} of {holds:,}" + (f" ({others})" if others else ""),
            goal="all",
            met=result.states.get("held", 0) == holds,
        ),
        row(
            "throughput",
            f"{result.throughput():.1f} holds/s",
            f"{floor.per_second:.1f} empty jobs/s" if floor else "—",
            f"≥ {holds / goal_p99:.0f} holds/s (implied)",
            result.throughput() >= holds / goal_p99,
        ),
    ]
    if late:
        lines += [
            row(
                "lateness at the gateway, median",
                seconds(statistics.median(late)),
                seconds(statistics.median(floor.lateness)) if floor else "—",
            ),
            row(
                "lateness at the gateway, p99",
                seconds(percentile(late, 99)),
                seconds(percentile(floor.lateness, 99)) if floor else "—",
                f"≤ {goal_p99:.0f} s",
                percentile(late, 99) <= goal_p99,
            ),
            row(
                "lateness at the gateway, max",
                seconds(max(late)),
                seconds(max(floor.lateness)) if floor else "—",
            ),
        ]
    if phase.due_in > phase.lead:
        early = result.early_beyond(phase.lead)
        earliest = max(0.0, -min(late)) if late else 0.0
        lines.append(
            row(
                f"placed more than {phase.lead:.0f} s early",
                f"{early} (earliest {earliest:.0f} s before due)",
                goal="0",
                met=early == 0,
            )
        )
    else:
        lines.append(
            row(
                f"placed more than {phase.lead:.0f} s early",
                f"not measurable (due {phase.due_in:.0f} s after booking)",
            )
        )
    lines += [
        row(
            "placed twice, at the gateway",
            f"{result.live_twice} live twice, {result.created_twice} created twice",
            goal="0 live twice",
            met=result.live_twice == 0,
        ),
        row(
            "rows against the gateway",
            f"{result.rows_not_live} held w/o live hold, {result.live_untracked} untracked",
            goal="0",
            met=result.rows_not_live == 0 and result.live_untracked == 0,
        ),
    ]
    per_hold, details = gateway_lines(result.gateway_calls, holds)
    lines.append(row("gateway calls (all processes)", per_hold, "1 per hold"))
    lines += [f"      {detail}" for detail in details]
    if result.written:
        written = [(result.written[p] - result.due[p]).total_seconds() for p in result.written]
        lines.append(f"      rows written held after due: {spread(written)}")
    if phase.restarts:
        lines.append(f"      processes restarted: {phase.restarts}")
    return lines


def scale_section(phases: list[Phase]) -> list[str]:
    lines = []
    base = phases[0].outcome.throughput() if phases else 0.0
    for phase in phases:
        result = phase.outcome
        rate = result.throughput()
        late = result.lateness()
        lines.append(
            row(
                f"{phase.workers} worker{'s' if phase.workers > 1 else ''}",
                f"{rate:.1f} holds/s (×{rate / base:.2f} of 1)" if base else f"{rate:.1f} holds/s",
                f"{phase.floor.per_second:.1f} empty jobs/s" if phase.floor else "—",
                f"0 twice (ideal ×{phase.workers / phases[0].workers:.0f})",
                result.live_twice == 0
                and result.rows_not_live == 0
                and result.live_untracked == 0
                and result.states.get("held", 0) == phase.holds,
            )
        )
        lines.append(
            f"      held {result.states.get('held', 0):,} of {phase.holds:,};"
            f" lateness {spread(late)};"
            f" {result.live_twice} live twice, {result.created_twice} created twice,"
            f" {result.rows_not_live} held w/o live hold, {result.live_untracked} untracked"
        )
    return lines


# --- failover ---------------------------------------------------------------------------------


def failover_section(scenarios, goal: float) -> list[str]:
    lines = []
    for scenario in scenarios:
        lines.append(f"  {scenario.name}")
        lines += [f"      {note}" for note in scenario.notes]
        for offset, delay in zip(scenario.offsets, scenario.delays, strict=True):
            if delay is None:
                figure = f"not placed by T+{scenario.ended:.0f} s"
            else:
                figure = f"placed {delay:.0f} s after due"
            lines.append(
                row(
                    f"hold due at T+{offset:.0f} s",
                    figure,
                    goal=f"≤ {goal:.0f} s",
                    met=delay is not None and delay <= goal,
                )
            )
        placed = [d for d in scenario.delays if d is not None]
        if placed:
            lines.append(f"      delays: {spread(placed)}")
        shows_scheduler = any(p.scheduler is not None for p in scenario.pages)
        shows_overdue = any(p.oldest_overdue is not None for p in scenario.pages)
        lines.append(
            row("System page: scheduler health", "shown" if shows_scheduler else "not shown",
                goal="shown", met=shows_scheduler)
        )  # fmt: skip
        lines.append(
            row("System page: oldest overdue hold", "shown" if shows_overdue else "not shown",
                goal="shown", met=shows_overdue)
        )  # fmt: skip
        lines += [f"      {page.describe()}" for page in scenario.pages]
    return lines


# --- the client page and the load -------------------------------------------------------------


def client_section(partial, bare, small_queries: int, goal_ratio: float) -> list[str]:
    ratio = partial.median_ms / bare.median_ms
    return [
        row(
            "partial, min / median / max",
            three(partial.samples, milliseconds),
            f"{bare.median_ms:.1f} ms (bare)",
            f"≤ {goal_ratio:.0f}× bare",
        ),
        row("bare route, min / median / max", three(bare.samples, milliseconds)),
        row(
            "ratio of medians",
            f"{ratio:.1f}×",
            "1×",
            f"≤ {goal_ratio:.0f}×",
            ratio <= goal_ratio,
        ),
        row(
            "CPU time per request, medians",
            f"{partial.cpu_median_ms / bare.cpu_median_ms:.1f}× ({partial.cpu_median_ms:.1f}"
            f" / {bare.cpu_median_ms:.1f} ms)",
            "1×",
            f"≤ {goal_ratio:.0f}× (steadier on a busy machine)",
            partial.cpu_median_ms / bare.cpu_median_ms <= goal_ratio,
        ),
        row(
            "SQL queries, 50 vs 5 authorizations",
            f"{partial.queries} vs {small_queries}",
            f"{bare.queries} (bare)",
            "the same",
            partial.queries == small_queries,
        ),
    ]


def load_section(data, pages, floor, goal_p99: float) -> list[str]:
    built = data["built"]
    everything = pages.of()
    p99 = percentile(everything, 99) if everything else float("inf")
    errors = pages.failed() + len([e for e in pages.errors if e.startswith("sign-in")])
    lines = [
        f"  practice: {len(data['client_ids']):,} clients, {built.authorizations:,} authorizations,"
        f" {built.encounters:,} encounters; {pages.users} users, think time {pages.think:.1f} s"
        f" (0.5–1.5×), {pages.seconds:.0f} s, {len(everything) / pages.seconds:.1f} requests/s",
        row(
            "all pages, p99",
            f"{p99 * 1000:.0f} ms",
            f"{percentile(floor.of(), 99) * 1000:.0f} ms (bare)" if floor.of() else "—",
            f"< {goal_p99 * 1000:.0f} ms",
            p99 < goal_p99,
        ),
        row("errors", f"{errors} of {len(everything):,}", goal="0", met=errors == 0),
        f"      all pages   {pages.describe(everything)}",
    ]
    for page in ("client page", "schedule", "report"):
        alone = pages.alone.get(page)
        by_one = f"; one visitor alone: {three(alone, milliseconds)}" if alone else ""
        lines.append(f"      {page:<11} {pages.describe(pages.of(page))}{by_one}")
    lines.append(f"      bare route  {floor.describe(floor.of())} (the floor, same users)")
    for error in sorted(set(pages.errors))[:5]:
        lines.append(f"      error: {error}")
    return lines
