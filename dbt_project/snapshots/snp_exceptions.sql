{#
  Exceptions kept across builds: a version row per time an exception is open. dbt_valid_from
  is the build that first raised it, dbt_valid_to the build that no longer did (resolved); an
  exception raised again later opens a new version.
#}
{% snapshot snp_exceptions %}
{{ config(
    schema='intermediate',
    unique_key='exception_id',
    strategy='check',
    check_cols=['exception_type'],
    hard_deletes='invalidate',
    tags=['post_forecast'],
) }}
select * from {{ ref('int_exceptions_current') }}
{% endsnapshot %}
