{{ config(tags=['post_forecast']) }}
-- Promotion profitability rolled up per approved promotion. Every measure is the sum of the
-- lines in fct_promotion_profitability (each shared week is already in exactly one line), and
-- every ratio is recomputed from the summed parts, never averaged. The lump-sum share of an
-- approved line that has no row in fct_promotion_profitability (the item never sold at that
-- location, so there is no forecast history to measure against) is still money received: it
-- is added to the promotion's vendor funding. Approved promotions with no measured line (all
-- in the future, or no forecast history) are listed with measured_lines = 0 and NULL measures.
with lines as (

    select * from {{ ref('fct_promotion_profitability') }}

),

unmeasured_lines as (

    select
        approved_lines.promotion_id,
        count(*) as unmeasured_lines,
        sum(coalesce(approved_lines.lump_sum_funding_allocated, 0)) as unmeasured_lump_sum_funding
    from {{ ref('stg_erp__promotions') }} as approved_lines
    where approved_lines.is_approved
        and not exists (
            select 1
            from lines
            where lines.promotion_id = approved_lines.promotion_id
                and lines.item_id = approved_lines.item_id
                and lines.location_id = approved_lines.location_id
        )
    group by approved_lines.promotion_id

),

promotions as (

    select * from {{ ref('dim_promotion') }}
    where is_approved

),

rolled_up as (

    select
        promotion_id,
        count(*) as measured_lines,
        count(distinct item_id) as measured_items,
        count(distinct location_id) as measured_locations,
        sum(weeks) as measured_line_weeks,
        count(case when has_overlap then 1 end) as overlapping_lines,
        sum(actual_units) as actual_units,
        sum(baseline_units) as baseline_units,
        sum(incremental_units) as incremental_units,
        sum(net_sales) as net_sales,
        sum(incremental_revenue) as incremental_revenue,
        sum(incremental_gross_margin) as incremental_gross_margin,
        sum(discount_cost) as discount_cost,
        sum(discount_on_baseline_units) as discount_on_baseline_units,
        sum(vendor_funding) as vendor_funding,
        sum(fixed_costs) as fixed_costs,
        sum(post_promotion_weeks) as post_promotion_line_weeks,
        sum(post_promotion_dip_units) as post_promotion_dip_units
    from lines
    group by promotion_id

),

roi as (

    select
        promotions.promotion_id,
        promotions.start_date,
        promotions.end_date,
        promotions.mechanic,
        promotions.channel,
        promotions.approved_lines,
        coalesce(rolled_up.measured_lines, 0) as measured_lines,
        coalesce(rolled_up.measured_items, 0) as measured_items,
        coalesce(rolled_up.measured_locations, 0) as measured_locations,
        coalesce(rolled_up.measured_line_weeks, 0) as measured_line_weeks,
        coalesce(rolled_up.overlapping_lines, 0) as overlapping_lines,
        rolled_up.actual_units,
        rolled_up.baseline_units,
        rolled_up.incremental_units,
        rolled_up.net_sales,
        rolled_up.incremental_revenue,
        rolled_up.incremental_gross_margin,
        rolled_up.discount_cost,
        rolled_up.discount_on_baseline_units,
        coalesce(unmeasured_lines.unmeasured_lines, 0) as unmeasured_lines,
        coalesce(unmeasured_lines.unmeasured_lump_sum_funding, 0) as unmeasured_lump_sum_funding,
        rolled_up.vendor_funding + coalesce(unmeasured_lines.unmeasured_lump_sum_funding, 0) as vendor_funding,
        rolled_up.fixed_costs,
        rolled_up.post_promotion_line_weeks,
        rolled_up.post_promotion_dip_units
    from promotions
    left join rolled_up on promotions.promotion_id = rolled_up.promotion_id
    left join unmeasured_lines on promotions.promotion_id = unmeasured_lines.promotion_id

),

with_roi as (

    select
        *,
        incremental_gross_margin + vendor_funding - fixed_costs as roi_numerator,
        discount_cost + fixed_costs as roi_denominator,
        vendor_funding > 0 and vendor_funding >= discount_cost as is_fully_funded
    from roi

)

select
    promotion_id,
    start_date,
    end_date,
    mechanic,
    channel,
    cast(approved_lines as integer) as approved_lines,
    cast(measured_lines as integer) as measured_lines,
    cast(measured_items as integer) as measured_items,
    cast(measured_locations as integer) as measured_locations,
    cast(measured_line_weeks as integer) as measured_line_weeks,
    cast(overlapping_lines as integer) as overlapping_lines,
    overlapping_lines > 0 as has_overlap,
    cast(actual_units as double) as actual_units,
    cast(baseline_units as double) as baseline_units,
    cast(incremental_units as double) as incremental_units,
    {{ safe_ratio('incremental_units', 'baseline_units') }} as lift_pct,
    cast(net_sales as decimal(18, 4)) as net_sales,
    cast(incremental_revenue as decimal(18, 4)) as incremental_revenue,
    cast(incremental_gross_margin as decimal(18, 4)) as incremental_gross_margin,
    cast(discount_cost as decimal(18, 4)) as discount_cost,
    cast(discount_on_baseline_units as decimal(18, 4)) as discount_on_baseline_units,
    cast(unmeasured_lines as integer) as unmeasured_lines,
    cast(unmeasured_lump_sum_funding as decimal(18, 4)) as unmeasured_lump_sum_funding,
    cast(vendor_funding as decimal(18, 4)) as vendor_funding,
    cast(fixed_costs as decimal(18, 4)) as fixed_costs,
    cast(roi_numerator as decimal(18, 4)) as roi_numerator,
    cast(roi_denominator as decimal(18, 4)) as roi_denominator,
    is_fully_funded,
    case when not is_fully_funded then {{ safe_ratio('roi_numerator', 'roi_denominator') }} end as roi,
    cast(post_promotion_line_weeks as integer) as post_promotion_line_weeks,
    cast(post_promotion_dip_units as double) as post_promotion_dip_units
from with_roi
