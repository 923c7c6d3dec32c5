-- Demo, between two nights: visitors (no account) browse the public pages, :per_day a day, spread
-- over (:from_as_of, :to_as_of]. Addresses from the shared range 100.64.0.0/10.
insert into app.connection_logs (account_id, ip, occurred_at, path, user_agent)
select null,
       cast('100.' || (64 + n % 64) || '.' || (abs(hashtext(n || :tag)) % 250) || '.' || (n % 250 + 1) as inet),
       :from_as_of + (:to_as_of - :from_as_of) * ((n + 0.5) / (:per_day * :days)),
       (array['/', '/projects', '/faq', '/signup', '/login'])[n % 5 + 1],
       'Mozilla/5.0 (demo visitor)'
from generate_series(0, cast(:per_day * :days as int) - 1) as n
