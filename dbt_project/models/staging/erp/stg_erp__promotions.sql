-- Promotion lines: one row per promotion × item × location. A line sent for location '*'
-- expands to every location in the location master; a line naming the location explicitly
-- takes precedence over the expansion of a '*' line of the same promotion and item.
with source as (

    select * from {{ source('raw', 'erp__promotions') }}

),

promotion_lines as (

    select
        trim(promotion_id) as promotion_id,
        trim(item_id) as item_id,
        trim(location_id) as line_location_id,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        cast(promo_price as decimal(18, 4)) as promo_price,
        lower(trim(mechanic)) as mechanic,
        lower(trim(channel)) as channel,
        lower(trim(approval_status)) as approval_status,
        cast(vendor_funding_per_unit as decimal(18, 4)) as vendor_funding_per_unit,
        lower(trim(funding_type)) as funding_type,
        cast(lump_sum_funding as decimal(18, 4)) as lump_sum_funding,
        cast(planned_units as double) as planned_units,
        _extract_date as extract_date,
        _load_id as load_id,
        _file as source_file,
        row_number() over (
            partition by trim(promotion_id), trim(item_id), trim(location_id)
            order by _extract_date desc, _loaded_at desc, _load_id desc, _row_number desc
        ) as recency_rank
    from source

),

latest_lines as (

    select * from promotion_lines where recency_rank = 1

),

locations as (

    select location_id from {{ ref('stg_erp__locations') }}

),

all_location_lines as (

    select
        latest_lines.*,
        locations.location_id,
        count(*) over (
            partition by latest_lines.promotion_id, latest_lines.item_id
        ) as expanded_location_count
    from latest_lines
    inner join locations on latest_lines.line_location_id = '*'

),

explicit_lines as (

    select
        latest_lines.*,
        latest_lines.line_location_id as location_id,
        1 as expanded_location_count
    from latest_lines
    where latest_lines.line_location_id <> '*'

),

expanded as (

    select *, false as is_from_all_locations_line from explicit_lines
    union all by name
    select *, true as is_from_all_locations_line from all_location_lines

),

ranked as (

    select
        *,
        row_number() over (
            partition by promotion_id, item_id, location_id
            order by is_from_all_locations_line
        ) as precedence_rank
    from expanded

)

select
    promotion_id,
    item_id,
    location_id,
    start_date,
    end_date,
    promo_price,
    mechanic,
    channel,
    approval_status,
    approval_status = 'approved' as is_approved,
    vendor_funding_per_unit,
    funding_type,
    lump_sum_funding,
    -- a lump sum agreed for a '*' line is paid once, so each location carries an equal share
    cast(lump_sum_funding / expanded_location_count as decimal(18, 4)) as lump_sum_funding_allocated,
    planned_units,
    is_from_all_locations_line,
    extract_date,
    load_id,
    source_file
from ranked
where precedence_rank = 1
