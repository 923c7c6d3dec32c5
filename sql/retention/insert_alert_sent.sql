-- One alert accepted by its channel (e-mail or webhook): what and for which run, never to whom.
insert into retention.alerts_sent (event, run_id, channel)
values (:event, :run_id, :channel)
