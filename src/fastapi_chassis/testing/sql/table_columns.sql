-- The columns a table's rows are reloaded through: generated ones are left
-- out, since no INSERT may set them.
SELECT format('%I', a.attname)
FROM pg_attribute AS a
WHERE
    a.attrelid = :oid
    AND a.attnum > 0
    AND NOT a.attisdropped
    AND a.attgenerated = ''
ORDER BY a.attnum
