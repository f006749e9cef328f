-- The marts written by hand as one DuckDB script: the lower bound dbt is measured against
-- (benchmarks/marts_speed.py). Same inputs (raw.*, forecast.*), same definitions as the dbt
-- models (docs/marts.md), written straight into schema `hand` with no views, contracts, hooks
-- or tests. Weeks end on Wednesday (ISO 3); trailing 4 weeks; review period 7 days; 4 cover
-- weeks; 2 post-promotion weeks; fixed cost 0.

create schema if not exists hand;

-- staging: latest extract per key, '*' promotion lines expanded ---------------------------
create or replace temp table items as
select trim(item_id) as item_id, cast(unit_cost as decimal(18, 4)) as unit_cost,
       cast(regular_price as decimal(18, 4)) as regular_price, lead_time_days
from raw.erp__items
qualify row_number() over (partition by trim(item_id)
    order by _extract_date desc, _loaded_at desc, _load_id desc, _row_number desc) = 1;

create or replace temp table locations as
select trim(location_id) as location_id, location_type
from raw.erp__locations
qualify row_number() over (partition by trim(location_id)
    order by _extract_date desc, _loaded_at desc, _load_id desc, _row_number desc) = 1;

create or replace temp table sales as
select cast(business_date as date) as business_date, trim(location_id) as location_id, trim(item_id) as item_id,
       units, cast(net_sales as decimal(18, 4)) as net_sales,
       cast(coalesce(discount_amount, 0) as decimal(18, 4)) as discount_amount
from raw.pos__sales
qualify row_number() over (partition by cast(business_date as date), trim(location_id), trim(item_id)
    order by _extract_date desc, _loaded_at desc, _load_id desc, _row_number desc) = 1;

create or replace temp table snapshots as
select cast(snapshot_date as date) as snapshot_date, trim(location_id) as location_id, trim(item_id) as item_id,
       on_hand_units, in_transit_units, on_order_units
from raw.inventory__snapshots
qualify row_number() over (partition by cast(snapshot_date as date), trim(location_id), trim(item_id)
    order by _extract_date desc, _loaded_at desc, _load_id desc, _row_number desc) = 1;

create or replace temp table promotion_lines as
with latest as (
    select trim(promotion_id) as promotion_id, trim(item_id) as item_id, trim(location_id) as line_location_id,
           cast(start_date as date) as start_date, cast(end_date as date) as end_date,
           cast(promo_price as decimal(18, 4)) as promo_price, lower(trim(mechanic)) as mechanic,
           lower(trim(approval_status)) = 'approved' as is_approved,
           cast(vendor_funding_per_unit as decimal(18, 4)) as vendor_funding_per_unit,
           cast(lump_sum_funding as decimal(18, 4)) as lump_sum_funding
    from raw.erp__promotions
    qualify row_number() over (partition by trim(promotion_id), trim(item_id), trim(location_id)
        order by _extract_date desc, _loaded_at desc, _load_id desc, _row_number desc) = 1
)
select latest.* exclude (line_location_id), latest.line_location_id as location_id, lump_sum_funding as lump_allocated
from latest where line_location_id <> '*'
union all by name
select expanded.* exclude (line_location_id, n), expanded.loc as location_id,
       cast(lump_sum_funding / n as decimal(18, 4)) as lump_allocated
from (
    select latest.*, locations.location_id as loc, count(*) over (partition by promotion_id, item_id) as n
    from latest join locations on latest.line_location_id = '*'
) as expanded
where not exists (select 1 from latest as explicit where explicit.line_location_id <> '*'
    and explicit.promotion_id = expanded.promotion_id and explicit.item_id = expanded.item_id
    and explicit.line_location_id = expanded.loc);

-- intermediate --------------------------------------------------------------------------
create or replace temp table promotion_weeks as
with spans as (
    select p.*, i.regular_price,
           p.start_date + cast((3 - isodow(p.start_date) + 7) % 7 as integer) as first_week,
           p.end_date + cast((3 - isodow(p.end_date) + 7) % 7 as integer) as last_week
    from promotion_lines p left join items i using (item_id)
    where p.is_approved
), weeks as (
    select *, cast(unnest(generate_series(first_week, last_week, interval 7 day)) as date) as week_end_date from spans
)
select promotion_id, item_id, location_id, week_end_date, start_date,
       datediff('day', greatest(start_date, week_end_date - 6), least(end_date, week_end_date)) + 1 as live_days,
       count(*) over w as promotions_live,
       row_number() over (partition by item_id, location_id, week_end_date
           order by datediff('day', greatest(start_date, week_end_date - 6), least(end_date, week_end_date)) desc,
                    start_date, promotion_id) = 1 as is_attributed_week,
       case when mechanic in ('feature', 'feature_display') then 1 else 0 end as feature,
       case when mechanic in ('display', 'feature_display') then 1 else 0 end as display
from weeks
window w as (partition by item_id, location_id, week_end_date);

create or replace temp table demand_weekly as
select item_id, location_id, business_date + cast((3 - isodow(business_date) + 7) % 7 as integer) as week_end_date,
       sum(units) as units, sum(net_sales) as net_sales
from sales group by all;

create or replace temp table inventory_weekly as
select item_id, location_id, snapshot_date + cast((3 - isodow(snapshot_date) + 7) % 7 as integer) as week_end_date,
       max(case when isodow(snapshot_date) = 3 then on_hand_units end) as closing,
       avg(on_hand_units) as average, min(on_hand_units) as minimum
from snapshots group by all;

create or replace temp table week_promotion as
select item_id, location_id, week_end_date, max(case when is_attributed_week then promotion_id end) as promotion_id,
       count(*) as live_count
from promotion_weeks group by all;

-- marts ---------------------------------------------------------------------------------
create or replace table hand.dim_item as
select *, regular_price - unit_cost as regular_unit_margin,
       case when regular_price > 0 then (regular_price - unit_cost) / regular_price end as regular_margin_rate
from items;

create or replace table hand.dim_location as select * from locations;

create or replace table hand.dim_promotion as
select promotion_id, min(start_date) as start_date, max(end_date) as end_date, count(*) as lines,
       count(*) filter (where is_approved) as approved_lines, bool_or(is_approved) as is_approved,
       sum(lump_allocated) as lump_sum_funding
from promotion_lines group by promotion_id;

create or replace table hand.dim_calendar as
with bounds as (
    select min(d) as first_date, max(d) as last_date from (
        select business_date as d from sales union all select snapshot_date from snapshots
        union all select start_date from promotion_lines union all select end_date from promotion_lines)
)
select cast(day as date) as date_day,
       cast(day as date) + cast((3 - isodow(cast(day as date)) + 7) % 7 as integer) as week_end_date
from bounds, generate_series(
    first_date + cast((3 - isodow(first_date) + 7) % 7 as integer) - 6,
    last_date + cast((3 - isodow(last_date) + 7) % 7 as integer) + 7 * 53, interval 1 day) as t(day);

create or replace table hand.fct_sell_through as
with keys as (
    select item_id, location_id, week_end_date from demand_weekly
    union select item_id, location_id, week_end_date from inventory_weekly
), weekly as (
    select k.*, wp.promotion_id, coalesce(wp.live_count, 0) as live_promotion_count,
           coalesce(d.units, 0) as units_sold, coalesce(d.net_sales, 0) as net_sales,
           inv.closing, inv.average, inv.minimum, i.unit_cost, i.regular_price,
           coalesce(p.vendor_funding_per_unit, 0) as funding_per_unit
    from keys k
    left join demand_weekly d using (item_id, location_id, week_end_date)
    left join inventory_weekly inv using (item_id, location_id, week_end_date)
    left join week_promotion wp using (item_id, location_id, week_end_date)
    left join promotion_lines p on p.is_approved and p.promotion_id = wp.promotion_id
        and p.item_id = k.item_id and p.location_id = k.location_id
    left join items i on i.item_id = k.item_id
), rated as (
    select *,
           avg(case when closing > 0 then units_sold end) over t as rate,
           count(case when closing > 0 then 1 end) over t as in_stock_weeks,
           closing is not null and closing >= 0 as closing_ok,
           average is not null and average >= 0 as average_ok,
           net_sales - units_sold * unit_cost as gross_margin
    from weekly
    window t as (partition by item_id, location_id order by week_end_date range between interval 21 days preceding and current row)
)
select item_id, location_id, week_end_date, promotion_id is not null as is_promoted, promotion_id, live_promotion_count,
       units_sold, net_sales, closing as closing_on_hand_units,
       coalesce(closing < 0 or minimum < 0, false) as has_negative_on_hand,
       case when closing_ok then units_sold end as sell_through_numerator,
       case when closing_ok then units_sold + closing end as sell_through_denominator,
       case when closing_ok and units_sold + closing > 0 then units_sold / (units_sold + closing) end as sell_through_rate,
       gross_margin, units_sold * funding_per_unit as vendor_funding,
       case when average_ok then gross_margin end as gmroi_numerator,
       case when average_ok then average * unit_cost end as gmroi_denominator,
       case when average_ok and average * unit_cost > 0 then gross_margin / (average * unit_cost) end as gmroi,
       in_stock_weeks as trailing_in_stock_weeks,
       case when closing_ok and rate > 0 then closing / rate end as weeks_of_supply,
       case when closing_ok and net_sales > 0 then closing * regular_price / net_sales end as stock_to_sales
from rated;

create or replace table hand.fct_stock_exposure as
with latest as (select max(snapshot_date) as latest_date from snapshots),
trailing_sales as (
    select s.item_id, s.location_id, s.snapshot_date, sum(d.units) as units
    from snapshots s join demand_weekly d on d.item_id = s.item_id and d.location_id = s.location_id
        and d.week_end_date <= s.snapshot_date and d.week_end_date > s.snapshot_date - 28
    group by all
), horizon as (
    select f.item_id, f.location_id, sum(f.predicted_units) / (7 * count(*)) as daily
    from forecast.demand_weekly f, latest
    where not f.is_history and f.week_end_date > latest.latest_date and f.week_end_date <= latest.latest_date + 28
    group by all
), base as (
    select s.*, s.snapshot_date = latest.latest_date as is_latest, i.unit_cost, i.regular_price, i.lead_time_days,
           coalesce(s.in_transit_units, 0) as in_transit, coalesce(s.on_order_units, 0) as on_order,
           case when s.snapshot_date = latest.latest_date then h.daily else coalesce(t.units, 0) / 28 end as daily_demand,
           case when s.snapshot_date = latest.latest_date then r.forecast_protection_units end as protection,
           case when s.snapshot_date = latest.latest_date then r.safety_stock_units end as safety
    from snapshots s cross join latest
    left join items i using (item_id)
    left join trailing_sales t using (item_id, location_id, snapshot_date)
    left join horizon h using (item_id, location_id)
    left join forecast.replenishment_targets r using (item_id, location_id)
)
select item_id, location_id, snapshot_date, is_latest as is_latest_snapshot_date, on_hand_units,
       on_hand_units + in_transit + on_order as inventory_position_units,
       (on_hand_units + in_transit + on_order) * unit_cost as inventory_position_at_cost,
       on_hand_units * regular_price as on_hand_at_retail,
       daily_demand as daily_demand_units,
       case when daily_demand > 0 then greatest(on_hand_units, 0) / daily_demand end as days_of_cover,
       case when daily_demand is null then null when daily_demand <= 0 then false
            else greatest(on_hand_units, 0) / daily_demand < lead_time_days + 7 end as stockout_risk,
       case when is_latest and protection is not null and safety is not null
            then greatest(0, on_hand_units - protection - safety) end as excess_units
from base;

create or replace table hand.fct_promotion_profitability as
with history as (
    select item_id, location_id, week_end_date, baseline_units, method from forecast.demand_weekly where is_history
), measured as (
    select pw.promotion_id, pw.item_id, pw.location_id, count(*) as history_weeks,
           count(*) filter (where pw.is_attributed_week) as weeks,
           sum(case when pw.is_attributed_week then coalesce(d.units, 0) else 0 end) as actual_units,
           sum(case when pw.is_attributed_week then h.baseline_units else 0 end) as baseline_units,
           sum(case when pw.is_attributed_week then coalesce(d.net_sales, 0) else 0 end) as net_sales
    from promotion_weeks pw join history h using (item_id, location_id, week_end_date)
    left join demand_weekly d using (item_id, location_id, week_end_date)
    group by all
), spans as (
    select promotion_id, item_id, location_id, max(week_end_date) as last_week,
           count(*) filter (where promotions_live > 1) as overlap_weeks,
           bool_or(is_attributed_week and week_end_date = last_of_line) as keeps_last
    from (select *, max(week_end_date) over (partition by promotion_id, item_id, location_id) as last_of_line
          from promotion_weeks)
    group by all
), unpromoted as (
    select h.item_id, h.location_id, h.week_end_date, h.baseline_units - coalesce(d.units, 0) as dip
    from history h left join demand_weekly d using (item_id, location_id, week_end_date)
    anti join (select distinct item_id, location_id, week_end_date from promotion_weeks) pw
        using (item_id, location_id, week_end_date)
), dips as (
    select promotion_id, item_id, location_id, count(*) as post_weeks, sum(dip) as dip_units
    from (
        select s.promotion_id, s.item_id, s.location_id, u.dip,
               row_number() over (partition by s.item_id, s.location_id, u.week_end_date
                   order by s.last_week desc, s.keeps_last desc, s.promotion_id) as claim
        from spans s join unpromoted u on u.item_id = s.item_id and u.location_id = s.location_id
            and u.week_end_date > s.last_week and u.week_end_date <= s.last_week + 14
    ) where claim = 1
    group by all
)
select m.*, s.overlap_weeks, s.overlap_weeks > 0 as has_overlap,
       m.actual_units - m.baseline_units as incremental_units,
       case when m.baseline_units > 0 then (m.actual_units - m.baseline_units) / m.baseline_units end as lift_pct,
       (m.net_sales - m.actual_units * i.unit_cost) - m.baseline_units * (i.regular_price - i.unit_cost)
           as incremental_gross_margin,
       m.actual_units * (i.regular_price - p.promo_price) as discount_cost,
       m.actual_units * coalesce(p.vendor_funding_per_unit, 0) + coalesce(p.lump_allocated, 0) as vendor_funding,
       coalesce(dips.post_weeks, 0) as post_promotion_weeks, dips.dip_units as post_promotion_dip_units
from measured m
join promotion_lines p on p.is_approved and p.promotion_id = m.promotion_id and p.item_id = m.item_id
    and p.location_id = m.location_id
join spans s on s.promotion_id = m.promotion_id and s.item_id = m.item_id and s.location_id = m.location_id
left join items i on i.item_id = m.item_id
left join dips on dips.promotion_id = m.promotion_id and dips.item_id = m.item_id
    and dips.location_id = m.location_id;

create or replace table hand.fct_promotion_summary as
with lines as (
    select promotion_id, count(*) as measured_lines, sum(actual_units) as actual_units,
           sum(baseline_units) as baseline_units, sum(incremental_units) as incremental_units,
           sum(incremental_gross_margin) as margin, sum(discount_cost) as discount_cost,
           sum(vendor_funding) as funding
    from hand.fct_promotion_profitability group by all
), unmeasured as (
    select p.promotion_id, sum(coalesce(p.lump_allocated, 0)) as lump
    from promotion_lines p anti join hand.fct_promotion_profitability f using (promotion_id, item_id, location_id)
    where p.is_approved group by all
)
select d.promotion_id, coalesce(l.measured_lines, 0) as measured_lines, l.actual_units, l.baseline_units,
       case when l.baseline_units > 0 then l.incremental_units / l.baseline_units end as lift_pct,
       l.margin as incremental_gross_margin, l.discount_cost, l.funding + coalesce(u.lump, 0) as vendor_funding,
       case when not (l.funding + coalesce(u.lump, 0) > 0 and l.funding + coalesce(u.lump, 0) >= l.discount_cost)
            and l.discount_cost > 0
            then (l.margin + l.funding + coalesce(u.lump, 0)) / l.discount_cost end as roi
from hand.dim_promotion d
left join lines l using (promotion_id)
left join unmeasured u using (promotion_id)
where d.is_approved;
