-- Schema snapshot: extensions (plpgsql is always there).
SELECT extname
FROM pg_extension
WHERE extname <> 'plpgsql'
