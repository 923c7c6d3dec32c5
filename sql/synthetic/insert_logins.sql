-- Demo, between two nights: some live members log in (about :per_10k per 10,000 a day). Each login
-- moves last_login_at, adds a 'login' activity event and a connection log at the same instant,
-- as the platform records them. Addresses from the shared range 100.64.0.0/10 (no real person).
with logged_in as (
    update app.accounts as a
    set last_login_at = :from_as_of + (:to_as_of - :from_as_of)
                        * ((abs(hashtext(a.id::text || ':at:' || :tag)) % 1000 + 1) / 1000.0)
    where a.anonymised_at is null
      and a.closed_at is null
      and a.deceased_reported_at is null
      and a.created_at <= :from_as_of
      and (a.last_login_at is null or a.last_login_at <= :from_as_of)
      and abs(hashtext(a.id::text || ':login:' || :tag)) % 10000 < :per_10k * :days
    returning a.id, a.last_login_at
),
events as (
    insert into app.activity_events (account_id, feature, occurred_at)
    select id, 'login', last_login_at from logged_in
    order by id  -- identities in a stable order: the same seed gives the same rows
    returning 1
),
logs as (
    insert into app.connection_logs (account_id, ip, occurred_at, path, user_agent)
    select id, cast('100.64.' || (id % 250) || '.' || (id % 200 + 1) as inet), last_login_at, '/login',
           'Mozilla/5.0 (X11; Linux x86_64) demo'
    from logged_in
    order by id
    returning 1
)
select (select count(*) from logged_in) as logins, (select count(*) from events) as events,
       (select count(*) from logs) as logs
