-- Location master: one row per location, from the latest extract that sent it.
with source as (

    select * from {{ source('raw', 'erp__locations') }}

),

latest_extract as (

    select max(_extract_date) as latest_extract_date from source

),

ranked as (

    select
        trim(location_id) as location_id,
        cast(location_name as varchar) as location_name,
        lower(trim(location_type)) as location_type,
        cast(region as varchar) as region,
        cast("cluster" as varchar) as "cluster",
        cast(city as varchar) as city,
        cast(state as varchar) as state,
        cast(selling_area_sqft as double) as selling_area_sqft,
        trim(serving_dc_id) as serving_dc_id,
        _extract_date as extract_date,
        _load_id as load_id,
        _file as source_file,
        row_number() over (
            partition by trim(location_id)
            order by _extract_date desc, _loaded_at desc, _load_id desc, _row_number desc
        ) as recency_rank
    from source

)

select
    ranked.location_id,
    ranked.location_name,
    ranked.location_type,
    ranked.region,
    ranked."cluster",
    ranked.city,
    ranked.state,
    ranked.selling_area_sqft,
    ranked.serving_dc_id,
    ranked.extract_date = latest_extract.latest_extract_date as is_in_latest_extract,
    ranked.extract_date,
    ranked.load_id,
    ranked.source_file
from ranked
cross join latest_extract
where ranked.recency_rank = 1
