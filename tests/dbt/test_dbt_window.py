"""Date windows for incremental dbt builds, from run config or a daily partition."""

from __future__ import annotations

import json
from datetime import date

import pytest

from orchestration.lib.dbt_window import DateWindow, dbt_build_args, window_for_partition


def test_no_window_builds_every_date() -> None:
    build = ["build", "--exclude-resource-type", "unit_test"]
    assert dbt_build_args() == build
    assert DateWindow.parse(None, None) is None
    assert dbt_build_args(full_refresh=True) == [*build, "--full-refresh"]


def test_a_window_becomes_dbt_vars() -> None:
    window = DateWindow.parse("2011-09-01", "2011-09-07")
    args = dbt_build_args(window)
    assert args[:4] == ["build", "--exclude-resource-type", "unit_test", "--vars"]
    assert json.loads(args[4]) == {"min_date": "2011-09-01", "max_date": "2011-09-07"}


def test_a_daily_partition_is_a_one_day_window() -> None:
    assert window_for_partition("2024-02-29") == DateWindow(date(2024, 2, 29), date(2024, 2, 29))


@pytest.mark.parametrize(
    ("min_date", "max_date", "message"),
    [
        ("2024-01-08", "2024-01-01", "starts on 2024-01-08, after its end 2024-01-01"),
        ("2024-01-01", None, "needs both min_date and max_date"),
        ("2024-13-01", "2024-12-31", r"'2024-13-01' … '2024-12-31'"),
    ],
)
def test_bad_windows_are_rejected_with_the_dates(min_date, max_date, message) -> None:
    with pytest.raises(ValueError, match=message):
        DateWindow.parse(min_date, max_date)


def test_a_full_refresh_takes_no_window() -> None:
    with pytest.raises(ValueError, match="full refresh"):
        dbt_build_args(DateWindow(date(2024, 1, 1), date(2024, 1, 1)), full_refresh=True)


@pytest.mark.usefixtures("dbt_manifest")
def test_the_daily_window_job_passes_the_day_to_both_dbt_selections(monkeypatch, tmp_path) -> None:
    from dagster._core.system_config.objects import ResolvedRunConfig

    from orchestration.dbt import DbtBuildConfig
    from orchestration.definitions import defs

    for name in ("RETAILOPS_WAREHOUSE", "RETAILOPS_LANDING_DIR", "RETAILOPS_OUTBOUND_DIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    job = defs.resolve_job_def("retailops_daily_window")
    run_config = job.partitioned_config.get_run_config_for_partition_key("2011-09-07")
    ResolvedRunConfig.build(job, run_config)  # raises when the config does not fit the job
    selected = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    assert {"marts/fct_sell_through", "forecast/demand_weekly", "bi/marts_snapshot"} <= selected
    assert not any(name.startswith(("raw/", "landing/", "writeback/")) for name in selected)
    for op in ("dbt_before_forecast", "dbt_after_forecast"):
        config = DbtBuildConfig(**run_config["ops"][op]["config"])
        assert json.loads(config.build_args()[4]) == {"min_date": "2011-09-07", "max_date": "2011-09-07"}
