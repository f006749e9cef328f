-- One row per approved promotion × item × location × retail week it touches (history and
-- future). A week (week_end_date − 6 … week_end_date) is touched when it overlaps
-- [start_date, end_date]: exactly the weeks from week_end_date(start_date) to
-- week_end_date(end_date). The forecasting step reads the promotion inputs from here.
--
-- When several approved promotions touch the same item × location × week, the week is
-- attributed to exactly one of them (is_attributed_week): the one live on most days of the
-- week, then the one that started first, then the smallest promotion id. Every model that
-- needs "the" promotion of a week reads this flag, so a shared week is never counted twice.
with approved_promotions as (

    select
        promotion_id,
        item_id,
        location_id,
        start_date,
        end_date,
        promo_price,
        mechanic
    from {{ ref('stg_erp__promotions') }}
    where is_approved

),

items as (

    select item_id, regular_price from {{ ref('stg_erp__items') }}

),

promotion_spans as (

    select
        approved_promotions.*,
        items.regular_price,
        {{ week_end_date('approved_promotions.start_date') }} as first_week_end_date,
        {{ week_end_date('approved_promotions.end_date') }} as last_week_end_date
    from approved_promotions
    left join items on approved_promotions.item_id = items.item_id

),

promotion_week_offsets as (

    select
        promotion_spans.*,
        unnest(generate_series(0, datediff('day', first_week_end_date, last_week_end_date) // 7)) as week_offset
    from promotion_spans

),

promotion_weeks as (

    select
        *,
        cast(first_week_end_date + cast(7 * week_offset as integer) as date) as week_end_date
    from promotion_week_offsets

),

live_days as (

    select
        *,
        -- days of [start_date, end_date] inside the week (week_end_date − 6 … week_end_date)
        cast(
            datediff('day',
                greatest(start_date, cast(week_end_date - 6 as date)),
                least(end_date, week_end_date)) + 1
            as integer
        ) as live_days
    from promotion_weeks

),

attributed as (

    select
        *,
        cast(count(*) over same_week as integer) as promotions_live,
        row_number() over (
            partition by item_id, location_id, week_end_date
            order by live_days desc, start_date, promotion_id
        ) = 1 as is_attributed_week
    from live_days
    window same_week as (partition by item_id, location_id, week_end_date)

)

select
    promotion_id,
    item_id,
    location_id,
    week_end_date,
    start_date,
    end_date,
    live_days,
    promotions_live,
    is_attributed_week,
    cast(
        case
            -- without a usable regular price the depth is unknown; 0 keeps the regressor defined
            when regular_price is null or regular_price <= 0 then 0
            else least(1, greatest(0, 1 - cast(promo_price as double) / cast(regular_price as double)))
        end as double
    ) as discount_depth,
    cast(case when mechanic in ('feature', 'feature_display') then 1 else 0 end as integer) as feature,
    cast(case when mechanic in ('display', 'feature_display') then 1 else 0 end as integer) as display
from attributed
