-- Which table references which, to reload seed rows referenced first.
SELECT
    conrelid::bigint AS child,
    confrelid::bigint AS parent
FROM pg_constraint
WHERE contype = 'f'
