{{ config(tags=['post_forecast']) }}
-- One row per exception occurrence the rules raised (intermediate.int_exceptions_current),
-- kept across builds by the snapshot snp_exceptions: raised at the build that first saw it,
-- resolved at the first build that no longer did. An exception raised again after being
-- resolved is a new occurrence.
with versions as (

    select * from {{ ref('snp_exceptions') }}

)

select
    dbt_scd_id as occurrence_id,
    exception_id,
    cast(row_number() over (partition by exception_id order by dbt_valid_from) as integer) as occurrence_number,
    exception_type,
    item_id,
    location_id,
    promotion_id,
    task_id,
    observed_date,
    detail,
    cast(dbt_valid_from as timestamp) as raised_at,
    cast(dbt_valid_to as timestamp) as resolved_at,
    dbt_valid_to is null as is_open,
    case
        when dbt_valid_to is not null
            then cast(epoch(cast(dbt_valid_to as timestamp)) - epoch(cast(dbt_valid_from as timestamp)) as double) / 3600
    end as resolution_hours
from versions
