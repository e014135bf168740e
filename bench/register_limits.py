"""How fast checks/exceptions.py refuses hostile register files, and loads the largest real one.

tests/test_register_input.py pins where each input is refused; this prints how long it takes
(best of 3). Goal: every refusal under 1 s, the largest real register (1 MiB) under 10 s.
Usage: .venv/bin/python bench/register_limits.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

from checks.exceptions import MAX_ENTRIES, MAX_REGISTER_BYTES, RegisterError, parse_register
from tests.test_exceptions import GOOD
from tests.test_register_input import alias_bomb

TRIALS = 3


def largest_real_register() -> str:
    body = GOOD.split("exceptions:\n")[1].replace("ci-deployer", "e{n:05d}")
    count = (MAX_REGISTER_BYTES - len("exceptions:\n")) // len(body.format(n=0))
    return "exceptions:\n" + "".join(body.format(n=n) for n in range(count))


CASES: dict[str, tuple[str, float]] = {
    "alias bomb (375 bytes)": (alias_bomb(), 1.0),
    f"{MAX_ENTRIES + 1} empty entries": ("exceptions:\n" + "- {}\n" * (MAX_ENTRIES + 1), 1.0),
    "deeply nested list": ("exceptions: " + "[" * 10_000 + "]" * 10_000 + "\n", 1.0),
    "500 bad entries": ("exceptions:\n" + "- x\n" * 500, 1.0),
    "1 MiB of tiny values": ("exceptions: [" + "a," * (MAX_REGISTER_BYTES // 2 - 20) + "a]\n", 10.0),
    "text over the size limit": (GOOD + "#" * MAX_REGISTER_BYTES, 1.0),
    "largest real register (loads)": (largest_real_register(), 10.0),
}


def best_of(run: Callable[[], object]) -> float:
    times = []
    for _ in range(TRIALS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def attempt(text: str) -> str:
    try:
        register = parse_register(text)
    except RegisterError:
        return "refused"
    return f"{len(register.entries)} entries"


def main() -> None:
    print(f"{'input':<34} {'outcome':>14} {'seconds':>8} {'goal':>6}")
    for name, (text, goal) in CASES.items():
        outcome = attempt(text)
        seconds = best_of(lambda text=text: attempt(text))  # type: ignore[misc]
        mark = "ok" if seconds < goal else "SLOW"
        print(f"{name:<34} {outcome:>14} {seconds:8.3f} {goal:6.1f} {mark}")


if __name__ == "__main__":
    main()
