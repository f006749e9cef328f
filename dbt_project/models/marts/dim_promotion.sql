-- One row per promotion (every approval status), summarising its lines. Attributes that can
-- differ between lines (mechanic, channel, approval status, funding type) read 'mixed' when
-- they do. Overlaps are measured on the approved lines' retail weeks (int_promotion_weeks).
with lines as (

    select * from {{ ref('stg_erp__promotions') }}

),

promotion_weeks as (

    select
        promotion_id,
        count(distinct week_end_date) as retail_weeks,
        min(week_end_date) as first_week_end_date,
        max(week_end_date) as last_week_end_date,
        count(case when promotions_live > 1 then 1 end) as overlap_line_weeks,
        count(case when promotions_live > 1 and not is_attributed_week then 1 end) as ceded_line_weeks
    from {{ ref('int_promotion_weeks') }}
    group by promotion_id

),

headers as (

    select
        promotion_id,
        min(start_date) as start_date,
        max(end_date) as end_date,
        case when count(distinct mechanic) = 1 then min(mechanic) else 'mixed' end as mechanic,
        case when count(distinct channel) = 1 then min(channel) else 'mixed' end as channel,
        case when count(distinct approval_status) = 1 then min(approval_status) else 'mixed' end
            as approval_status,
        case when count(distinct funding_type) > 1 then 'mixed' else min(funding_type) end as funding_type,
        count(*) as lines,
        count(case when is_approved then 1 end) as approved_lines,
        count(distinct item_id) as items,
        count(distinct location_id) as locations,
        bool_or(is_from_all_locations_line) as has_all_locations_line,
        sum(lump_sum_funding_allocated) as lump_sum_funding,
        sum(planned_units) as planned_units
    from lines
    group by promotion_id

)

select
    headers.promotion_id,
    headers.start_date,
    headers.end_date,
    cast(datediff('day', headers.start_date, headers.end_date) + 1 as integer) as duration_days,
    promotion_weeks.first_week_end_date,
    promotion_weeks.last_week_end_date,
    cast(coalesce(promotion_weeks.retail_weeks, 0) as integer) as retail_weeks,
    headers.mechanic,
    headers.channel,
    headers.approval_status,
    headers.approved_lines > 0 as is_approved,
    headers.funding_type,
    cast(headers.lines as integer) as lines,
    cast(headers.approved_lines as integer) as approved_lines,
    cast(headers.items as integer) as items,
    cast(headers.locations as integer) as locations,
    headers.has_all_locations_line,
    cast(headers.lump_sum_funding as decimal(18, 4)) as lump_sum_funding,
    cast(headers.planned_units as double) as planned_units,
    cast(coalesce(promotion_weeks.overlap_line_weeks, 0) as integer) as overlap_line_weeks,
    cast(coalesce(promotion_weeks.ceded_line_weeks, 0) as integer) as ceded_line_weeks,
    coalesce(promotion_weeks.overlap_line_weeks, 0) > 0 as has_overlap
from headers
left join promotion_weeks on headers.promotion_id = promotion_weeks.promotion_id
