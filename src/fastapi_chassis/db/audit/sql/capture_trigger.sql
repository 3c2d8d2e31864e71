-- One per audited table and event (INSERT, UPDATE, DELETE, TRUNCATE).
--
-- PostgreSQL gives transition tables only to triggers with a single event and
-- no column list, hence a trigger per event; all of a table's row events share
-- its capture function.
CREATE TRIGGER {trigger}
AFTER {event} ON {table}
{referencing}
FOR EACH STATEMENT
EXECUTE FUNCTION {function}();
