-- Statement-level, so a bulk insert notifies once.
CREATE TRIGGER chassis_outbox_notify
AFTER INSERT ON public.chassis_outbox
FOR EACH STATEMENT
EXECUTE FUNCTION public.chassis_outbox_notify();
