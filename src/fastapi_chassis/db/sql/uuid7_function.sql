-- chassis_uuid7(): an RFC 9562 version 7 UUID made on the server.
--
-- PostgreSQL 18 has a native uuidv7(); older servers build the id here. The
-- branch is taken at run time, so the same migration serves every version.
-- On 14 to 17 the 12 bits after the millisecond timestamp hold the
-- sub-millisecond fraction of clock_timestamp() (RFC 9562 section 6.2,
-- method 3), as the native function does; the remaining 62 bits are random.
CREATE OR REPLACE FUNCTION public.chassis_uuid7()
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
PARALLEL SAFE
AS $function$
DECLARE
    unix_us bigint;
    sub_ms integer;
    id_bytes bytea;
BEGIN
    IF current_setting('server_version_num')::integer >= 180000 THEN
        -- plpgsql_check reads this pragma: uuidv7() does not exist before 18.
        PERFORM 'PRAGMA:disable:check';
        RETURN uuidv7();
    END IF;
    unix_us := floor(extract(EPOCH FROM clock_timestamp()) * 1000000)::bigint;
    sub_ms := ((unix_us % 1000) * 4096 / 1000)::integer;
    -- gen_random_uuid() supplies the random bits and the RFC variant.
    id_bytes := uuid_send(gen_random_uuid());
    id_bytes := overlay(
        id_bytes PLACING substring(int8send(unix_us / 1000) FROM 3) FROM 1 FOR 6
    );
    id_bytes := set_byte(id_bytes, 6, 112 | (sub_ms >> 8));  -- version 7 (0x70)
    id_bytes := set_byte(id_bytes, 7, sub_ms & 255);
    RETURN encode(id_bytes, 'hex')::uuid;
END;
$function$;
