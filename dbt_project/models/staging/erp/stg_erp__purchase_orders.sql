-- Purchase order lines: one row per po_id × line_no, from the latest extract that sent it.
with source as (

    select * from {{ source('raw', 'erp__purchase_orders') }}

),

ranked as (

    select
        trim(po_id) as po_id,
        cast(line_no as integer) as line_no,
        trim(item_id) as item_id,
        trim(location_id) as location_id,
        cast(order_date as date) as order_date,
        cast(expected_date as date) as expected_date,
        cast(ordered_units as double) as ordered_units,
        cast(received_units as double) as received_units,
        _extract_date as extract_date,
        _load_id as load_id,
        _file as source_file,
        row_number() over (
            partition by trim(po_id), cast(line_no as integer)
            order by _extract_date desc, _loaded_at desc, _load_id desc, _row_number desc
        ) as recency_rank
    from source

)

select
    po_id,
    line_no,
    item_id,
    location_id,
    order_date,
    expected_date,
    ordered_units,
    received_units,
    -- DESIGN §3: open units = ordered − received; an over-delivered line has nothing open
    greatest(ordered_units - received_units, 0) as open_units,
    extract_date,
    load_id,
    source_file
from ranked
where recency_rank = 1
