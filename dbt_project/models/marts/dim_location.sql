-- One row per location in the location master (latest extract that sent it): stores,
-- distribution centres and the e-commerce site. Locations no longer sent are kept.
select
    location_id,
    location_name,
    location_type,
    region,
    "cluster" as location_cluster,
    city,
    state,
    selling_area_sqft,
    serving_dc_id,
    is_in_latest_extract,
    extract_date as master_extract_date
from {{ ref('stg_erp__locations') }}
