-- Any text in the warehouse that looks like an email, a phone number, an IP address or a URL.
-- Every text column of the warehouse's aggregates, as listed by the data map (retention.mapsql).
with texts (value) as (
    {warehouse_texts}
)
select 1
from texts
where value ~* '[^@[:space:]]+@[^@[:space:]]+\.[a-z]{2,}'
    or value ~ '\+?[0-9][0-9 ().-]{7,}[0-9]'
    or value ~ '(^|[^0-9])[0-9]{1,3}(\.[0-9]{1,3}){3}([^0-9]|$)'
    or value ~* '([0-9a-f]{1,4}:){2,}[0-9a-f]{0,4}'
    or value ~* '(https?://|www\.|[a-z0-9-]+\.(com|fr|org|net|io)(/|$))'
