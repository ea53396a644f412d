"""The routine fuzzer in the suite: a short run on two workers, a property test that shrinks what it finds, and a
replay of every failure saved in tests/corpus/fuzz (see tests/fuzz.py)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from fuzz import FUZZ_CORPUS, check, generate, mutate, random_sets, read_saved, run, seeds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ_SECONDS = float(os.environ.get("FUZZ_SECONDS", "60"))
FUZZ_SEED = int(os.environ["FUZZ_SEED"]) if os.environ.get("FUZZ_SEED") else None
SAVED = sorted(FUZZ_CORPUS.glob("*.yaml")) if FUZZ_CORPUS.is_dir() else []


@pytest.mark.slow
def test_a_short_fuzz_run_finds_nothing() -> None:
    # The workers inherit this test's private HOME and relax folders (conftest); new failures are saved for replay.
    report = run(FUZZ_SECONDS, workers=2, seed=FUZZ_SEED, save_dir=FUZZ_CORPUS)
    print(report.text())
    found = [f"{failure.kind}: {signature} -> {_shown(report.saved.get(signature))}"
             for signature, failure in sorted(report.failures.items(), key=lambda item: (item[1].kind, item[0]))]
    assert not found and not report.errors, "\n".join([f"seed {report.seed}:", *found, *report.errors])


def _shown(path: Path | None) -> str:
    return str(path.relative_to(FUZZ_CORPUS.parent.parent.parent)) if path else "not saved"


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture,
                                 HealthCheck.large_base_example])
@given(st.randoms(use_true_random=False))
def test_any_routine_and_set_values_keep_the_contract(rng: random.Random) -> None:
    text = generate(rng) if rng.random() < 0.4 else mutate(rng, rng.choice(seeds()))
    sets = random_sets(rng, text)
    failure = check(text, sets)
    assert failure is None, failure.describe()


@pytest.mark.parametrize("path", SAVED, ids=[path.name for path in SAVED])
def test_a_saved_failure_keeps_the_contract_now(path: Path) -> None:
    text, sets = read_saved(path)
    failure = check(text, sets)
    assert failure is None, failure.describe()
