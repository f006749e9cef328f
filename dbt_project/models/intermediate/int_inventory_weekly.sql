-- One row per item × location × retail week with at least one inventory snapshot: the
-- closing position (the snapshot dated on the week's last day, NULL when that day has no
-- snapshot) and the average of the snapshots taken during the week.
with snapshots as (

    select
        item_id,
        location_id,
        snapshot_date,
        {{ week_end_date('snapshot_date') }} as week_end_date,
        on_hand_units
    from {{ ref('stg_inventory__snapshots') }}

)

select
    item_id,
    location_id,
    week_end_date,
    max(case when snapshot_date = week_end_date then on_hand_units end) as closing_on_hand_units,
    avg(on_hand_units) as average_on_hand_units,
    cast(count(*) as integer) as snapshot_days
from snapshots
group by item_id, location_id, week_end_date
