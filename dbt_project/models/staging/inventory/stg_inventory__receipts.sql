-- Goods receipts: one row per receipt_id (the latest extract wins).
with source as (

    select * from {{ source('raw', 'inventory__receipts') }}

),

ranked as (

    select
        trim(receipt_id) as receipt_id,
        cast(receipt_date as date) as receipt_date,
        trim(location_id) as location_id,
        trim(item_id) as item_id,
        cast(units as double) as units,
        trim(po_id) as po_id,
        _extract_date as extract_date,
        _load_id as load_id,
        _file as source_file,
        row_number() over (
            partition by trim(receipt_id)
            order by _extract_date desc, _loaded_at desc, _load_id desc, _row_number desc
        ) as recency_rank
    from source

)

select
    receipt_id,
    receipt_date,
    location_id,
    item_id,
    units,
    po_id,
    extract_date,
    load_id,
    source_file
from ranked
where recency_rank = 1
