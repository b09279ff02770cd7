"""The sweep's settings: PAYHUB_LATE_WATCH and the poll concurrency, checked at start."""

from __future__ import annotations

import pytest

from payhub.config import load_settings


def settings(tmp_path, **env):
    return load_settings({f"PAYHUB_{k.upper()}": v for k, v in env.items()}, instance_path=str(tmp_path))


def test_the_late_watch_defaults_to_an_hour_six_hours_a_day_and_three_days(tmp_path):
    assert settings(tmp_path).late_watch == (3600, 21600, 86400, 259200)


@pytest.mark.parametrize(("raw", "ages"), [("", ()), ("  ", ()), ("60", (60,)), ("60, 300,3600.5", (60, 300, 3600.5))])
def test_the_late_watch_takes_increasing_ages_in_seconds_or_nothing(tmp_path, raw, ages):
    assert settings(tmp_path, late_watch=raw).late_watch == ages


@pytest.mark.parametrize("raw", ["abc", "0", "-60", "300,60", "60,60", "60,,120", "60;120", "inf", "nan", "1h"])
def test_a_bad_late_watch_is_a_clear_error_at_start(tmp_path, raw):
    with pytest.raises(ValueError, match=r"PAYHUB_LATE_WATCH must be empty or a comma list of increasing positive"):
        settings(tmp_path, late_watch=raw)


@pytest.mark.parametrize("name", ["sweep_concurrency", "sweep_gateway_concurrency"])
def test_poll_concurrency_must_be_a_positive_integer(tmp_path, name):
    assert getattr(settings(tmp_path, **{name: "8"}), name) == 8
    for raw in ("0", "-1"):
        with pytest.raises(ValueError, match=f"PAYHUB_{name.upper()} must be positive"):
            settings(tmp_path, **{name: raw})
    with pytest.raises(ValueError, match=f"PAYHUB_{name.upper()} must be an integer, not 'many'"):
        settings(tmp_path, **{name: "many"})
