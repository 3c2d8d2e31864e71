-- The publication a connector will read: does it exist, does it publish
-- inserts, and does it include the outbox table?
SELECT
    pub.pubinsert,
    exists(
        SELECT
        FROM pg_publication_tables AS published
        WHERE
            published.pubname = pub.pubname
            AND published.schemaname = 'public'
            AND published.tablename = :table_name
    ) AS has_table
FROM pg_publication AS pub
WHERE pub.pubname = :publication
