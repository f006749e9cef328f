-- Item master: one row per item, from the latest extract that sent it (full snapshots, so
-- the latest extract is the current state; items missing from it are kept, flagged, so past
-- sales still find their item).
with source as (

    select * from {{ source('raw', 'erp__items') }}

),

latest_extract as (

    select max(_extract_date) as latest_extract_date from source

),

ranked as (

    select
        trim(item_id) as item_id,
        cast(item_name as varchar) as item_name,
        cast(category as varchar) as category,
        cast(subcategory as varchar) as subcategory,
        cast(brand as varchar) as brand,
        cast(unit_cost as decimal(18, 4)) as unit_cost,
        cast(regular_price as decimal(18, 4)) as regular_price,
        cast(pack_size as integer) as pack_size,
        cast(moq as integer) as moq,
        trim(supplier_id) as supplier_id,
        cast(lead_time_days as integer) as lead_time_days,
        cast(lead_time_std_days as double) as lead_time_std_days,
        cast(status as varchar) as status,
        cast(uom as varchar) as uom,
        -- only items sold by weight may have fractional quantities (the loader enforces it)
        coalesce(cast(sold_by_weight as boolean), false) as sold_by_weight,
        _extract_date as extract_date,
        _load_id as load_id,
        _file as source_file,
        -- a key re-sent in later extracts: the latest extract wins, then the latest load,
        -- then the last row of the file
        row_number() over (
            partition by trim(item_id)
            order by _extract_date desc, _loaded_at desc, _load_id desc, _row_number desc
        ) as recency_rank
    from source

)

select
    ranked.item_id,
    ranked.item_name,
    ranked.category,
    ranked.subcategory,
    ranked.brand,
    ranked.unit_cost,
    ranked.regular_price,
    ranked.pack_size,
    ranked.moq,
    ranked.supplier_id,
    ranked.lead_time_days,
    ranked.lead_time_std_days,
    ranked.status,
    ranked.uom,
    ranked.sold_by_weight,
    ranked.extract_date = latest_extract.latest_extract_date as is_in_latest_extract,
    ranked.extract_date,
    ranked.load_id,
    ranked.source_file
from ranked
cross join latest_extract
where ranked.recency_rank = 1
