-- The newest outbox sequence number, 0 for an empty outbox.
SELECT coalesce(max(o.sequence), 0)
FROM public.chassis_outbox AS o
