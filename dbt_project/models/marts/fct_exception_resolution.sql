{{ config(tags=['post_forecast']) }}
-- The exception resolution time KPI per exception type: how many were raised, resolved and
-- are still open, and the median and 90th percentile of hours from raised to resolved over
-- the resolved occurrences (continuous quantiles). Types never raised are not listed.
select
    exception_type,
    cast(count(*) as integer) as raised,
    cast(count(resolved_at) as integer) as resolved,
    cast(count(*) - count(resolved_at) as integer) as still_open,
    cast(quantile_cont(resolution_hours, 0.5) as double) as median_resolution_hours,
    cast(quantile_cont(resolution_hours, 0.9) as double) as p90_resolution_hours,
    cast(sum(resolution_hours) as double) as resolution_hours_total,
    min(raised_at) as first_raised_at,
    max(raised_at) as last_raised_at
from {{ ref('fct_exceptions') }}
group by exception_type
