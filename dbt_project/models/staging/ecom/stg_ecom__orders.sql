-- E-commerce order lines: one row per order_id × line_no, from the latest extract that sent it.
with source as (

    select * from {{ source('raw', 'ecom__orders') }}

),

ranked as (

    select
        trim(order_id) as order_id,
        cast(line_no as integer) as line_no,
        cast(order_ts as timestamp) as order_ts,
        trim(item_id) as item_id,
        trim(fulfil_location_id) as fulfil_location_id,
        cast(units as double) as units,
        cast(unit_price as decimal(18, 4)) as unit_price,
        lower(trim(status)) as status,
        _extract_date as extract_date,
        _load_id as load_id,
        _file as source_file,
        row_number() over (
            partition by trim(order_id), cast(line_no as integer)
            order by _extract_date desc, _loaded_at desc, _load_id desc, _row_number desc
        ) as recency_rank
    from source

)

select
    order_id,
    line_no,
    order_ts,
    item_id,
    fulfil_location_id,
    units,
    unit_price,
    status,
    extract_date,
    load_id,
    source_file
from ranked
where recency_rank = 1
