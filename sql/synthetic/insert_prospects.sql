-- Demo, between two nights: new prospects are collected, :per_day a day, in (:from_as_of,
-- :to_as_of]; e-mails under example.fr (no real person).
insert into app.prospects (civility, first_name, last_name, email, company, job_title, source, collected_at)
select (array['M.', 'Mme'])[n % 2 + 1], 'Prospect', 'Demo ' || n, 'prospect-' || :tag_slug || '-' || n || '@example.fr',
       'Société ' || (n % 37), 'Responsable data', 'salon_professionnel',
       :from_as_of + (:to_as_of - :from_as_of) * ((n + 0.5) / (:per_day * :days))
from generate_series(0, cast(:per_day * :days as int) - 1) as n
