-- A member's objection (GDPR art. 21) in progress, answered at once. The platform processes a
-- member's account to perform the contract the member signed up for (art. 6(1)(b)) and keeps
-- what the law requires (art. 6(1)(c)); it has no processing of members' data based on legitimate
-- interests or for direct marketing, the only grounds art. 21 applies to. The objection is
-- therefore refused with that reason, the ways to stop the processing (close the account, or ask
-- for erasure or restriction) and the complaint route to the CNIL.
-- Nothing in the account changes. Returns the number refused.
with refused as (
    update retention.subject_requests as q
    set state = 'refused',
        state_reason = 'Your account''s data is processed to provide the service you signed up for (GDPR art. 6(1)(b)) '
            || 'and to meet legal obligations (art. 6(1)(c)); the right to object (art. 21) applies to processing '
            || 'based on legitimate interests or for direct marketing, which the platform does not carry out on '
            || 'members'' data. To stop the processing, close your account, or ask for its erasure or for a '
            || 'restriction. You may lodge a complaint with the CNIL (www.cnil.fr/plaintes, 3 place de Fontenoy, '
            || 'TSA 80715, 75334 Paris Cedex 07).',
        result_counts = jsonb_build_object('accounts_changed', 0),
        completed_at = cast(:as_of as timestamptz),
        updated_at = clock_timestamp()
    where q.state = 'in_progress' and q.request_type = 'objection' and q.account_id is not null
    returning 1
)
select count(*) as objections_refused from refused
