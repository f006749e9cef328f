{{ config(tags=['post_forecast']) }}
-- Promotion profitability per approved promotion × item × location with at least one
-- history week. Baseline = forecast.demand_weekly.baseline_units: the demand model with the
-- promotion inputs switched off (in-sample for past promotions). A week shared by several
-- approved promotions on the same item × location is measured once, for the promotion
-- int_promotion_weeks attributes it to (most live days, then earliest start, then smallest
-- id), and every line sharing a week is flagged. A post-promotion week belongs to the
-- promotion that ended last before it, so dips are never counted twice either.
{%- set post_days = var('post_promotion_weeks') | int * 7 %}

with promotion_weeks as (

    select
        promotion_id,
        item_id,
        location_id,
        week_end_date,
        promotions_live > 1 as is_shared_week,
        is_attributed_week
    from {{ ref('int_promotion_weeks') }}

),

demand_forecast as (

    select item_id, location_id, week_end_date, baseline_units, method, model_version
    from {{ source('forecast', 'demand_weekly') }}
    where is_history

),

weekly_demand as (

    select item_id, location_id, week_end_date, units, net_sales from {{ ref('int_demand_weekly') }}

),

promotion_history_weeks as (

    select
        promotion_weeks.promotion_id,
        promotion_weeks.item_id,
        promotion_weeks.location_id,
        promotion_weeks.week_end_date,
        promotion_weeks.is_attributed_week,
        demand_forecast.baseline_units,
        demand_forecast.method,
        demand_forecast.model_version,
        coalesce(weekly_demand.units, 0) as units,
        coalesce(weekly_demand.net_sales, 0) as net_sales
    from promotion_weeks
    inner join demand_forecast
        on promotion_weeks.item_id = demand_forecast.item_id
        and promotion_weeks.location_id = demand_forecast.location_id
        and promotion_weeks.week_end_date = demand_forecast.week_end_date
    left join weekly_demand
        on promotion_weeks.item_id = weekly_demand.item_id
        and promotion_weeks.location_id = weekly_demand.location_id
        and promotion_weeks.week_end_date = weekly_demand.week_end_date

),

measured as (

    select
        promotion_id,
        item_id,
        location_id,
        count(*) as history_weeks,
        count(case when is_attributed_week then 1 end) as weeks,
        sum(case when is_attributed_week then units else 0 end) as actual_units,
        sum(case when is_attributed_week then baseline_units else 0 end) as baseline_units,
        sum(case when is_attributed_week then net_sales else 0 end) as net_sales,
        min(method) as baseline_method,
        max(model_version) as baseline_model_version
    from promotion_history_weeks
    group by promotion_id, item_id, location_id

),

promotion_spans as (

    select
        promotion_id,
        item_id,
        location_id,
        min(week_end_date) as first_week_end_date,
        max(week_end_date) as last_week_end_date,
        count(case when is_shared_week then 1 end) as overlap_weeks,
        -- whether this line keeps its own last week; breaks ties between lines ending together
        bool_or(is_attributed_week and week_end_date = last_week_end_date_of_line) as keeps_last_week
    from (
        select
            *,
            max(week_end_date) over (partition by promotion_id, item_id, location_id)
                as last_week_end_date_of_line
        from promotion_weeks
    ) as promotion_weeks_with_last
    group by promotion_id, item_id, location_id

),

-- weeks after the promotion with no approved promotion live: baseline − actual is the dip
unpromoted_history_weeks as (

    select
        demand_forecast.item_id,
        demand_forecast.location_id,
        demand_forecast.week_end_date,
        demand_forecast.baseline_units,
        coalesce(weekly_demand.units, 0) as units
    from demand_forecast
    left join weekly_demand
        on demand_forecast.item_id = weekly_demand.item_id
        and demand_forecast.location_id = weekly_demand.location_id
        and demand_forecast.week_end_date = weekly_demand.week_end_date
    where not exists (
        select 1
        from promotion_weeks
        where promotion_weeks.item_id = demand_forecast.item_id
            and promotion_weeks.location_id = demand_forecast.location_id
            and promotion_weeks.week_end_date = demand_forecast.week_end_date
    )

),

-- each such week goes to the promotion on the item × location that ended last before it
post_promotion_candidates as (

    select
        promotion_spans.promotion_id,
        promotion_spans.item_id,
        promotion_spans.location_id,
        unpromoted_history_weeks.week_end_date,
        unpromoted_history_weeks.baseline_units - unpromoted_history_weeks.units as dip_units,
        row_number() over (
            partition by promotion_spans.item_id, promotion_spans.location_id, unpromoted_history_weeks.week_end_date
            order by promotion_spans.last_week_end_date desc, promotion_spans.keeps_last_week desc,
                promotion_spans.promotion_id
        ) as claim_rank
    from promotion_spans
    inner join unpromoted_history_weeks
        on promotion_spans.item_id = unpromoted_history_weeks.item_id
        and promotion_spans.location_id = unpromoted_history_weeks.location_id
        and unpromoted_history_weeks.week_end_date > promotion_spans.last_week_end_date
        and unpromoted_history_weeks.week_end_date <= promotion_spans.last_week_end_date + {{ post_days }}

),

post_promotion as (

    select
        promotion_id,
        item_id,
        location_id,
        count(*) as post_promotion_weeks,
        sum(dip_units) as post_promotion_dip_units
    from post_promotion_candidates
    where claim_rank = 1
    group by promotion_id, item_id, location_id

),

promotions as (

    select
        promotion_id,
        item_id,
        location_id,
        start_date,
        end_date,
        mechanic,
        channel,
        promo_price,
        vendor_funding_per_unit,
        lump_sum_funding_allocated
    from {{ ref('stg_erp__promotions') }}
    where is_approved

),

items as (

    select item_id, unit_cost, regular_price from {{ ref('stg_erp__items') }}

),

economics as (

    select
        measured.promotion_id,
        measured.item_id,
        measured.location_id,
        promotions.start_date,
        promotions.end_date,
        promotions.mechanic,
        promotions.channel,
        promotion_spans.first_week_end_date,
        promotion_spans.last_week_end_date,
        measured.history_weeks,
        measured.weeks,
        promotion_spans.overlap_weeks,
        promotion_spans.overlap_weeks > 0 as has_overlap,
        items.regular_price,
        promotions.promo_price,
        items.unit_cost,
        measured.actual_units,
        measured.baseline_units,
        measured.actual_units - measured.baseline_units as incremental_units,
        measured.net_sales,
        measured.net_sales - measured.baseline_units * items.regular_price as incremental_revenue,
        (measured.net_sales - measured.actual_units * items.unit_cost)
            - measured.baseline_units * (items.regular_price - items.unit_cost) as incremental_gross_margin,
        measured.actual_units * (items.regular_price - promotions.promo_price) as discount_cost,
        -- discount given to shoppers who would have bought anyway (never below zero units)
        greatest(0, least(measured.actual_units, measured.baseline_units))
            * (items.regular_price - promotions.promo_price) as discount_on_baseline_units,
        measured.actual_units * coalesce(promotions.vendor_funding_per_unit, 0)
            + coalesce(promotions.lump_sum_funding_allocated, 0) as vendor_funding,
        cast({{ var('promotion_fixed_cost_per_line') }} as double) as fixed_costs,
        post_promotion.post_promotion_weeks,
        post_promotion.post_promotion_dip_units,
        measured.baseline_method,
        measured.baseline_model_version
    from measured
    inner join promotions
        on measured.promotion_id = promotions.promotion_id
        and measured.item_id = promotions.item_id
        and measured.location_id = promotions.location_id
    inner join promotion_spans
        on measured.promotion_id = promotion_spans.promotion_id
        and measured.item_id = promotion_spans.item_id
        and measured.location_id = promotion_spans.location_id
    left join items on measured.item_id = items.item_id
    left join post_promotion
        on measured.promotion_id = post_promotion.promotion_id
        and measured.item_id = post_promotion.item_id
        and measured.location_id = post_promotion.location_id

),

roi as (

    select
        *,
        incremental_gross_margin + vendor_funding - fixed_costs as roi_numerator,
        discount_cost + fixed_costs as roi_denominator,
        -- funding that covers the whole discount (and is not just 0 ≥ 0 for a line that sold nothing)
        vendor_funding > 0 and vendor_funding >= discount_cost as is_fully_funded
    from economics

)

select
    promotion_id,
    item_id,
    location_id,
    start_date,
    end_date,
    mechanic,
    channel,
    first_week_end_date,
    last_week_end_date,
    cast(history_weeks as integer) as history_weeks,
    cast(weeks as integer) as weeks,
    cast(overlap_weeks as integer) as overlap_weeks,
    has_overlap,
    regular_price,
    promo_price,
    unit_cost,
    cast(actual_units as double) as actual_units,
    cast(baseline_units as double) as baseline_units,
    cast(incremental_units as double) as incremental_units,
    {{ safe_ratio('incremental_units', 'baseline_units') }} as lift_pct,
    cast(net_sales as decimal(18, 4)) as net_sales,
    cast(incremental_revenue as decimal(18, 4)) as incremental_revenue,
    cast(incremental_gross_margin as decimal(18, 4)) as incremental_gross_margin,
    cast(discount_cost as decimal(18, 4)) as discount_cost,
    cast(discount_on_baseline_units as decimal(18, 4)) as discount_on_baseline_units,
    cast(vendor_funding as decimal(18, 4)) as vendor_funding,
    cast(fixed_costs as decimal(18, 4)) as fixed_costs,
    cast(roi_numerator as decimal(18, 4)) as roi_numerator,
    cast(roi_denominator as decimal(18, 4)) as roi_denominator,
    is_fully_funded,
    case when not is_fully_funded then {{ safe_ratio('roi_numerator', 'roi_denominator') }} end as roi,
    cast(coalesce(post_promotion_weeks, 0) as integer) as post_promotion_weeks,
    cast(post_promotion_dip_units as double) as post_promotion_dip_units,
    baseline_method,
    baseline_model_version
from roi
