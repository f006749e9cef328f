-- One row per item in the item master (latest extract that sent it), with its margin at the
-- regular price. Items no longer in the latest extract are kept so past facts still join.
select
    item_id,
    item_name,
    category,
    subcategory,
    brand,
    supplier_id,
    status,
    uom,
    unit_cost,
    regular_price,
    cast(regular_price - unit_cost as decimal(18, 4)) as regular_unit_margin,
    {{ safe_ratio('regular_price - unit_cost', 'regular_price') }} as regular_margin_rate,
    pack_size,
    moq,
    lead_time_days,
    lead_time_std_days,
    is_in_latest_extract,
    extract_date as master_extract_date
from {{ ref('stg_erp__items') }}
