-- Store execution tasks for promotions: one row per task_id (the latest extract wins).
with source as (

    select * from {{ source('raw', 'store_ops__tasks') }}

),

ranked as (

    select
        trim(task_id) as task_id,
        trim(promotion_id) as promotion_id,
        trim(location_id) as location_id,
        lower(trim(task_type)) as task_type,
        cast(due_ts as timestamp) as due_ts,
        cast(completed_ts as timestamp) as completed_ts,
        _extract_date as extract_date,
        _load_id as load_id,
        _file as source_file,
        row_number() over (
            partition by trim(task_id)
            order by _extract_date desc, _loaded_at desc, _load_id desc, _row_number desc
        ) as recency_rank
    from source

)

select
    task_id,
    promotion_id,
    location_id,
    task_type,
    due_ts,
    completed_ts,
    extract_date,
    load_id,
    source_file
from ranked
where recency_rank = 1
