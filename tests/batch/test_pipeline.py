"""The batch scheduler on stand-in stages: every item ends once, failures stay with their
item, memory is bounded, I/O runs in parallel, stop and pause do what they say."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from cutout.batch.pipeline import Control, run_pipeline


@dataclass
class Stand:
    """Stages over ints: item i's bytes are str(i); ``fail`` maps a stage to the items
    that fail there; ``skip`` items end in fetch."""

    fail: dict[str, set[int]] = field(default_factory=dict)
    skip: set[int] = field(default_factory=set)
    model_delay_s: float = 0.0
    ended: Counter[int] = field(default_factory=Counter)
    outcomes: dict[int, str] = field(default_factory=dict)
    batches: list[int] = field(default_factory=list)
    live: int = 0  # prepared and not yet finished
    most_live: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _maybe_fail(self, stage: str, item: int) -> None:
        if item in self.fail.get(stage, set()):
            raise ValueError(f"{stage} {item}")

    def _end(self, item: int, outcome: str) -> None:
        with self.lock:
            self.ended[item] += 1
            self.outcomes[item] = outcome

    def fetch(self, item: int) -> bytes | None:
        self._maybe_fail("fetch", item)
        if item in self.skip:
            self._end(item, "skipped")
            return None
        return str(item).encode()

    def prepare(self, item: int, data: bytes) -> int:
        self._maybe_fail("prepare", item)
        with self.lock:
            self.live += 1
            self.most_live = max(self.most_live, self.live)
        return int(data)

    def infer(self, batch: Sequence[int]) -> list[int]:
        self.batches.append(len(batch))
        if self.model_delay_s:
            threading.Event().wait(self.model_delay_s)
        if any(item in self.fail.get("infer", set()) for item in batch):
            self._release(len(batch))
            raise ValueError("infer")
        return [item * 10 for item in batch]

    def finish(self, item: int, prepared: int, answer: int) -> str:
        self._release(1)
        self._maybe_fail("finish", item)
        assert answer == prepared * 10
        return f"out-{item}"

    def store(self, item: int, output: str) -> None:
        self._maybe_fail("store", item)
        assert output == f"out-{item}"
        self._end(item, "done")

    def failed(self, item: int, error: Exception) -> None:
        self._end(item, f"failed: {error}")

    def _release(self, count: int) -> None:
        with self.lock:
            self.live -= count


def test_every_item_ends_exactly_once_and_a_failure_stays_with_its_item() -> None:
    stand = Stand(
        fail={
            "fetch": {3},
            "prepare": {5},
            "finish": {7},
            "store": {11},
        },
        skip={2, 13},
    )
    stats = run_pipeline(range(100), stand, max_batch=4, cpu_workers=2, io_workers=3)
    assert set(stand.ended) == set(range(100)) and set(stand.ended.values()) == {1}
    assert {item: o for item, o in stand.outcomes.items() if o != "done"} == {
        2: "skipped",
        13: "skipped",
        3: "failed: fetch 3",
        5: "failed: prepare 5",
        7: "failed: finish 7",
        11: "failed: store 11",
    }
    assert (stats.taken, stats.dropped) == (100, 0)
    assert stats.batches == len(stand.batches) and max(stand.batches) <= 4
    assert sum(stand.batches) == 100 - 2 - 2  # skipped and failed before the model


def test_a_failing_batch_fails_each_of_its_items_and_the_run_goes_on() -> None:
    stand = Stand(fail={"infer": {0}})
    run_pipeline(range(20), stand, max_batch=1, cpu_workers=1, io_workers=1)
    assert stand.outcomes[0] == "failed: infer"
    assert all(stand.outcomes[i] == "done" for i in range(1, 20))


def test_decoded_items_in_flight_are_bounded_however_many_items_there_are() -> None:
    stand = Stand(model_delay_s=0.001)  # a slow model: everything else runs ahead of it
    max_batch, cpu_workers = 3, 2
    run_pipeline(range(300), stand, max_batch=max_batch, cpu_workers=cpu_workers, io_workers=4)
    assert len(stand.ended) == 300
    assert stand.most_live <= 2 * max_batch + 3 * cpu_workers


def test_fetches_run_in_parallel_up_to_io_workers() -> None:
    barrier = threading.Barrier(4, timeout=30)

    class Waiting(Stand):
        def fetch(self, item: int) -> bytes | None:
            if item < 4:
                barrier.wait()  # breaks (and fails the items) unless 4 fetches overlap
            return super().fetch(item)

    stand = Waiting()
    run_pipeline(range(8), stand, max_batch=2, cpu_workers=1, io_workers=4)
    assert all(outcome == "done" for outcome in stand.outcomes.values()), stand.outcomes


def test_a_stop_takes_nothing_new_and_stores_what_is_past_the_model() -> None:
    control = Control()

    class Stopping(Stand):
        def store(self, item: int, output: str) -> None:
            super().store(item, output)
            if item == 5:
                control.stop()

    stand = Stopping()
    stats = run_pipeline(
        range(1000), stand, max_batch=2, cpu_workers=1, io_workers=2, control=control
    )
    assert control.stopped
    assert set(stand.ended.values()) == {1}
    assert stats.taken < 100  # the queues are short: few items were in flight
    assert stats.taken == len(stand.ended) + stats.dropped
    assert all(outcome == "done" for outcome in stand.outcomes.values())


def test_paused_takes_nothing_until_resumed() -> None:
    control = Control()
    control.pause()
    stand = Stand()
    seen_paused: list[int] = []

    def resume_later() -> None:
        # whatever the timing, nothing can have been fetched while paused
        threading.Event().wait(0.05)
        seen_paused.append(len(stand.ended))
        control.resume()

    threading.Thread(target=resume_later).start()
    stats = run_pipeline(
        range(10), stand, max_batch=2, cpu_workers=1, io_workers=2, control=control
    )
    assert seen_paused == [0]
    assert stats.taken == 10 and len(stand.ended) == 10


def test_a_stop_while_paused_ends_the_run() -> None:
    control = Control()
    control.pause()
    threading.Timer(0.01, control.stop).start()
    stats = run_pipeline(
        range(10), Stand(), max_batch=2, cpu_workers=1, io_workers=2, control=control
    )
    assert stats.taken == 0


def test_an_interrupt_of_the_model_thread_stops_the_run_and_propagates() -> None:
    class Interrupted(Stand):
        def infer(self, batch: Sequence[int]) -> list[int]:
            raise KeyboardInterrupt

    control = Control()
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(
            range(50), Interrupted(), max_batch=2, cpu_workers=1, io_workers=2, control=control
        )
    assert control.stopped


def test_pool_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        run_pipeline(range(3), Stand(), max_batch=1, cpu_workers=0, io_workers=1)
