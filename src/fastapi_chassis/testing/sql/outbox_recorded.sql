-- The envelopes of the events recorded after :after, in outbox order.
SELECT o.payload
FROM public.chassis_outbox AS o
WHERE o.sequence > :after
ORDER BY o.sequence
