{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_window('week_end_date', week_end_date(window_min_date()), week_end_date(window_max_date())) }}"
) }}
-- One row per item × location × retail week with at least one inventory snapshot: the
-- closing position (the snapshot dated on the week's last day, NULL when that day has no
-- snapshot) and the average of the snapshots taken during the week.
-- Incremental: a run rebuilds the retail weeks touching [var min_date, var max_date].
with snapshots as (

    select
        item_id,
        location_id,
        snapshot_date,
        {{ week_end_date('snapshot_date') }} as week_end_date,
        on_hand_units
    from {{ ref('stg_inventory__snapshots') }}
    {%- if is_incremental() %}
    where snapshot_date between {{ week_end_date(window_min_date()) }} - 6 and {{ week_end_date(window_max_date()) }}
    {%- endif %}

)

select
    item_id,
    location_id,
    week_end_date,
    max(case when snapshot_date = week_end_date then on_hand_units end) as closing_on_hand_units,
    avg(on_hand_units) as average_on_hand_units,
    min(on_hand_units) as minimum_on_hand_units,
    cast(count(*) as integer) as snapshot_days
from snapshots
group by item_id, location_id, week_end_date
