-- Web shop prices: one row per item × effective_ts (the latest extract wins).
with source as (

    select * from {{ source('raw', 'ecom__prices') }}

),

ranked as (

    select
        trim(item_id) as item_id,
        cast(effective_ts as timestamp) as effective_ts,
        cast(web_price as decimal(18, 4)) as web_price,
        trim(promotion_id) as promotion_id,
        _extract_date as extract_date,
        _load_id as load_id,
        _file as source_file,
        row_number() over (
            partition by trim(item_id), cast(effective_ts as timestamp)
            order by _extract_date desc, _loaded_at desc, _load_id desc, _row_number desc
        ) as recency_rank
    from source

)

select
    item_id,
    effective_ts,
    web_price,
    promotion_id,
    extract_date,
    load_id,
    source_file
from ranked
where recency_rank = 1
