{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_window('business_date', window_min_date(), window_max_date(), 'business_date is null') }}"
) }}
-- POS sales: one row per business date × location × item (the latest extract wins).
-- A table, incremental on the date window (docs/decisions/0008-staging-materialisation.md). The
-- deduplication partitions by business date, so a date's raw rows are all it needs: a run deletes
-- the window's dates (pre-hook) and stages every date then missing from the table, the window's
-- and any date raw holds that was never staged.
with source as (

    {{ raw_rows_to_stage(source('raw', 'pos__sales'), 'business_date') }}

),

ranked as (

    select
        cast(business_date as date) as business_date,
        trim(location_id) as location_id,
        trim(item_id) as item_id,
        cast(units as double) as units,
        cast(net_sales as decimal(18, 4)) as net_sales,
        cast(coalesce(discount_amount, 0) as decimal(18, 4)) as discount_amount,
        cast(baskets as double) as baskets,
        cast(returns_units as double) as returns_units,
        -- daily rows need not send period_days; weekly summaries send 7
        cast(coalesce(period_days, 1) as integer) as period_days,
        _extract_date as extract_date,
        _load_id as load_id,
        _file as source_file,
        row_number() over (
            partition by cast(business_date as date), trim(location_id), trim(item_id)
            order by _extract_date desc, _loaded_at desc, _load_id desc, _row_number desc
        ) as recency_rank
    from source

)

select
    business_date,
    location_id,
    item_id,
    units,
    net_sales,
    discount_amount,
    baskets,
    returns_units,
    period_days,
    extract_date,
    load_id,
    source_file
from ranked
where recency_rank = 1
