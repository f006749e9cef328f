{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_window('snapshot_date', window_min_date(), window_max_date(), 'snapshot_date is null') }}"
) }}
-- Inventory snapshots: one end-of-day position per snapshot date × location × item.
-- A table, incremental on the date window like stg_pos__sales (docs/decisions/0008-staging-materialisation.md):
-- a run deletes the window's dates and stages every date then missing from the table.
with source as (

    {{ raw_rows_to_stage(source('raw', 'inventory__snapshots'), 'snapshot_date') }}

),

ranked as (

    select
        cast(snapshot_date as date) as snapshot_date,
        trim(location_id) as location_id,
        trim(item_id) as item_id,
        cast(on_hand_units as double) as on_hand_units,
        cast(in_transit_units as double) as in_transit_units,
        cast(on_order_units as double) as on_order_units,
        cast(reserved_units as double) as reserved_units,
        cast(stockout_hours as double) as stockout_hours,
        _extract_date as extract_date,
        _load_id as load_id,
        _file as source_file,
        row_number() over (
            partition by cast(snapshot_date as date), trim(location_id), trim(item_id)
            order by _extract_date desc, _loaded_at desc, _load_id desc, _row_number desc
        ) as recency_rank
    from source

)

select
    snapshot_date,
    location_id,
    item_id,
    on_hand_units,
    in_transit_units,
    on_order_units,
    reserved_units,
    stockout_hours,
    extract_date,
    load_id,
    source_file
from ranked
where recency_rank = 1
